// The REST API reference at /api/v1/docs: Swagger UI (swagger-ui-dist, served from our own
// origin) on the document this server generates. No validator badge (it would call
// validator.swagger.io) and no other origin: the page works offline.
/* global SwaggerUIBundle */
const root = document.getElementById('swagger-ui');
window.ui = SwaggerUIBundle({
  url: root.dataset.document,
  domNode: root,
  validatorUrl: null,
  deepLinking: true,
  tryItOutEnabled: false,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
