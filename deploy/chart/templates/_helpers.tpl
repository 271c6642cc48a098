{{/* Helpers print flow mappings on one line, so `template` (no `include` + nindent) suffices. */}}
{{- define "consciousness.fullname" -}}
{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "consciousness.selector" -}}
{app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}}
{{- end -}}

{{- define "consciousness.labels" -}}
{app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}, app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}, app.kubernetes.io/managed-by: {{ .Release.Service }}}
{{- end -}}

{{- define "consciousness.secretName" -}}
{{ if .Values.existingSecret }}{{ .Values.existingSecret }}{{ else }}{{ template "consciousness.fullname" . }}{{ end }}
{{- end -}}

{{- define "consciousness.image" -}}
{{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}
{{- end -}}

{{- define "consciousness.envFrom" -}}
[{configMapRef: {name: {{ template "consciousness.fullname" . }}}}, {secretRef: {name: {{ template "consciousness.secretName" . }}}}]
{{- end -}}

{{- define "consciousness.podSecurityContext" -}}
{runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
{{- end -}}

{{- define "consciousness.containerSecurityContext" -}}
{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
{{- end -}}

{{- define "consciousness.volumeMounts" -}}
[{name: data, mountPath: /data}, {name: tmp, mountPath: /tmp}]
{{- end -}}

{{- define "consciousness.volumes" -}}
[{name: data, emptyDir: {}}, {name: tmp, emptyDir: {}}]
{{- end -}}
