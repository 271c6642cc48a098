// The live dashboard: sign in over HTTP, then follow metricsSummary, metrics, agentEvents and alerts
// over one graphql-transport-ws connection. Every number is also shown as text (summary
// tiles, tables); the charts are an extra. DOM is built with textContent only.
import { createClient } from 'graphql-ws';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';

const GRAPHQL_URL = new URL('/graphql', window.location.href);
const WS_URL = new URL(GRAPHQL_URL);
WS_URL.protocol = GRAPHQL_URL.protocol === 'https:' ? 'wss:' : 'ws:';
const STORAGE_KEY = 'consciousness.dashboard.auth';
const MAX_POINTS = 300; // five minutes of one-per-second summaries
const MAX_FEED_ROWS = 100;
const RESUBSCRIBE_MS = 1000;
const REFRESH_MARGIN_MS = 60_000; // at most; a quarter of the lifetime for short-lived tokens
const CATEGORY_NAMES = {
  S1: 'Violent crimes', S2: 'Non-violent crimes', S3: 'Sex-related crimes',
  S4: 'Child sexual exploitation', S5: 'Defamation', S6: 'Specialized advice',
  S7: 'Privacy', S8: 'Intellectual property', S9: 'Indiscriminate weapons', S10: 'Hate',
  S11: 'Suicide & self-harm', S12: 'Sexual content', S13: 'Elections',
  S14: 'Code interpreter abuse', PII: 'Personal data', PROFANITY: 'Profanity',
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- auth

const auth = { token: '', refreshToken: '', expiresAt: 0, refreshAt: 0, username: '' };

function tokenExpiry(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
    return typeof claims.exp === 'number' ? claims.exp * 1000 : 0;
  } catch {
    return 0;
  }
}

function saveAuth() {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(auth));
}

function loadAuth() {
  try {
    Object.assign(auth, JSON.parse(sessionStorage.getItem(STORAGE_KEY) || '{}'));
  } catch {
    sessionStorage.removeItem(STORAGE_KEY);
  }
}

function setTokens(payload) {
  auth.token = payload.accessToken;
  auth.refreshToken = payload.refreshToken || '';
  auth.expiresAt = payload.expiresIn ? Date.now() + payload.expiresIn * 1000 : tokenExpiry(auth.token);
  auth.refreshAt = auth.expiresAt - Math.min(REFRESH_MARGIN_MS, (auth.expiresAt - Date.now()) / 4);
  auth.username = payload.user?.username || auth.username;
  saveAuth();
}

class GraphQLError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.extensions?.code;
  }
}

async function post(query, variables, token) {
  const headers = { accept: 'application/json', 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(GRAPHQL_URL, {
    method: 'POST', headers, body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new GraphQLError(body.errors[0]);
  return body.data;
}

let refreshing = null;
async function freshToken() {
  if (auth.refreshToken && Date.now() > auth.refreshAt) {
    refreshing ??= post(
      'mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken expiresIn } }',
      { t: auth.refreshToken },
    ).then((data) => setTokens(data.refreshToken)).finally(() => { refreshing = null; });
    await refreshing;
  }
  return auth.token;
}

async function query(text, variables) {
  return post(text, variables, await freshToken());
}

// ---------------------------------------------------------------- connection indicator

const connection = { state: 'offline', connects: 0, reconnects: 0, resumes: 0 };

function showConnection(state, detail) {
  if (state) connection.state = state;
  const box = $('connection');
  box.dataset.state = connection.state;
  box.dataset.reconnects = String(connection.reconnects);
  box.dataset.resumes = String(connection.resumes);
  const words = {
    connected: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline',
  }[connection.state];
  const parts = [words, `${connection.reconnects} reconnects`, `${connection.resumes} resumes`];
  if (detail) parts.push(detail);
  $('connection-text').textContent = parts.join(' · ');
}

// ---------------------------------------------------------------- charts

const points = { t: [], rate: [], p50: [], p95: [], p99: [], awareness: [], ethical: [] };
const charts = [];

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// x labels: the local time of day only (uPlot's default adds dates that overlap when narrow)
const clockLabels = (_chart, splits) => splits.map((seconds) => new Date(seconds * 1000)
  .toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }));

// y from 0 to a little above the largest value, so small changes do not look dramatic
const fromZero = (_chart, _min, max) => [0, max > 0 ? max * 1.15 : 1];

function makeChart(elementId, series, range) {
  const element = $(elementId);
  const text = cssVar('--text');
  const grid = cssVar('--line');
  const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
  const chart = new uPlot(
    {
      width: Math.max(element.clientWidth, 200),
      height: 200,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: range ?? fromZero } },
      axes: [{ ...axis, space: 80, values: clockLabels }, { ...axis, size: 50 }],
      series: [{}, ...series.map((s) => ({ width: 2, spanGaps: true, ...s }))],
    },
    [points.t, ...series.map((s) => points[s.key])],
    element,
  );
  chart.keys = series.map((s) => s.key);
  charts.push(chart);
  new ResizeObserver(() => chart.setSize({ width: Math.max(element.clientWidth, 200), height: 200 }))
    .observe(element);
}

function redrawCharts() {
  for (const chart of charts) chart.setData([points.t, ...chart.keys.map((key) => points[key])]);
}

function setupCharts() {
  if (charts.length) return;
  makeChart('chart-rate', [{ key: 'rate', label: 'requests/s', stroke: '#1f77b4', fill: 'rgba(31,119,180,0.12)' }]);
  makeChart('chart-latency', [
    { key: 'p50', label: 'p50', stroke: '#2ca02c' },
    { key: 'p95', label: 'p95', stroke: '#ff7f0e' },
    { key: 'p99', label: 'p99', stroke: '#d62728' },
  ]);
  makeChart('chart-scores', [
    { key: 'awareness', label: 'awareness', stroke: '#9467bd' },
    { key: 'ethical', label: 'ethical score', stroke: '#17becf' },
  ], [0, 1]);
}

// ---------------------------------------------------------------- rendering

const fixed = (value, digits) => (value == null ? '–' : Number(value).toFixed(digits));
const timeOf = (iso) => new Date(iso).toLocaleTimeString();

function showSummary(s) {
  const seconds = Math.max(1, s.coveredSeconds);
  const rate = s.count / seconds;
  $('s-rate').textContent = fixed(rate, 2);
  $('s-count').textContent = String(s.count);
  $('s-blocked').textContent = String(s.blockedCount);
  $('s-errors').textContent = String(s.errorCount);
  $('s-p50').textContent = fixed(s.p50ProcessingTimeMs, 1);
  $('s-p95').textContent = fixed(s.p95ProcessingTimeMs, 1);
  $('s-p99').textContent = fixed(s.p99ProcessingTimeMs, 1);
  $('s-awareness').textContent = fixed(s.meanAwarenessLevel, 3);
  $('s-ethical').textContent = fixed(s.meanEthicalScore, 3);
  $('s-covered').textContent = `Over the last ${s.coveredSeconds.toFixed(0)} s of a ${s.windowSeconds} s window, updated ${timeOf(s.timestamp)}.`;

  points.t.push(Date.parse(s.timestamp) / 1000);
  points.rate.push(rate);
  points.p50.push(s.p50ProcessingTimeMs);
  points.p95.push(s.p95ProcessingTimeMs);
  points.p99.push(s.p99ProcessingTimeMs);
  points.awareness.push(s.meanAwarenessLevel);
  points.ethical.push(s.meanEthicalScore);
  if (points.t.length > MAX_POINTS) for (const key of Object.keys(points)) points[key].shift();
  redrawCharts();
  const section = document.querySelector('.charts');
  section.dataset.points = String(points.t.length);
  section.dataset.lastEventSequence = String(s.lastEventSequence);
}

const agents = new Map(); // id -> {name, status, version, change}

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function agentName(id) {
  return agents.get(id)?.name ?? `${id.slice(0, 8)}…`;
}

// ---------------------------------------------------------------- feed filters

// The dimensions an observed model call adds (empty for a `process` request); the feed
// shows the rows whose values match every filter set.
const DIMENSIONS = ['source', 'model', 'provider'];
const filterOf = (dimension) => $(`filter-${dimension}`);
const orDash = (text) => text || '—';

function offerFilterValue(dimension, value) {
  const select = filterOf(dimension);
  if (!value || [...select.options].some((option) => option.value === value)) return;
  const option = document.createElement('option');
  option.value = value;
  option.textContent = value;
  select.append(option);
}

function matchesFilters(row) {
  return DIMENSIONS.every((d) => !filterOf(d).value || row.dataset[d] === filterOf(d).value);
}

function applyFilters() {
  const rows = [...document.querySelectorAll('#feed tbody tr')];
  let shown = 0;
  for (const row of rows) {
    row.hidden = !matchesFilters(row);
    if (!row.hidden) shown += 1;
  }
  const filtered = DIMENSIONS.some((d) => filterOf(d).value);
  $('feed-shown').textContent = filtered ? `${shown} of ${rows.length} shown` : '';
}

function showRequest(event) {
  const row = document.createElement('tr');
  row.className = 'fresh';
  row.dataset.requestId = event.requestId;
  row.dataset.sequence = String(event.sequence);
  for (const dimension of DIMENSIONS) {
    row.dataset[dimension] = event[dimension];
    offerFilterValue(dimension, event[dimension]);
  }
  cell(row, timeOf(event.timestamp));
  cell(row, agentName(event.agentId));
  cell(row, event.source);
  cell(row, orDash(event.model));
  cell(row, orDash(event.provider));
  cell(row, fixed(event.processingTimeMs, 1), 'num');
  cell(row, fixed(event.awarenessLevel, 3), 'num');
  cell(row, fixed(event.ethicalScore, 3), 'num');
  const observed = event.source === 'otlp';
  cell(row, observed ? `${event.inputTokens} / ${event.outputTokens}` : '—', 'num');
  const outcome = event.error ? 'error' : event.blocked ? 'blocked' : 'ok';
  cell(row, outcome, `outcome-${outcome}`);
  const violations = cell(row, event.violationCategories.length ? '' : '—', 'violations');
  for (const category of event.violationCategories) {
    const tag = document.createElement('span');
    tag.className = 'tag';
    const name = CATEGORY_NAMES[category];
    tag.title = category;
    // hazard codes (S1…S14) with their name; PII and PROFANITY by name alone
    tag.textContent = !name ? category : /^S\d+$/.test(category) ? `${category} ${name}` : name;
    violations.append(tag);
  }
  const body = document.querySelector('#feed tbody');
  body.prepend(row);
  while (body.rows.length > MAX_FEED_ROWS) body.deleteRow(-1);
  $('feed-empty').hidden = true;
  applyFilters();
}

// ---------------------------------------------------------------- breakdown

const BREAKDOWN_SECONDS = 3600;
const BREAKDOWN_REFRESH_MS = 10_000;
const BREAKDOWN = `query($q: AnalyticsQuery!) { analytics(query: $q) {
  rows { model provider source count values { value } } } }`;
const BREAKDOWN_NAMES = { MODEL: 'Model', PROVIDER: 'Provider', SOURCE: 'Source' };
let breakdownTimer = null;
let breakdownAsked = 0; // an answer to an older question (another grouping) is dropped

async function loadBreakdown() {
  const dimension = $('group-by').value;
  breakdownAsked += 1;
  const asked = breakdownAsked;
  const end = new Date();
  const start = new Date(end.getTime() - BREAKDOWN_SECONDS * 1000);
  const aggregations = [
    { function: 'AVG', field: 'PROCESSING_TIME_MS' },
    { function: 'SUM', field: 'INPUT_TOKENS' },
    { function: 'SUM', field: 'OUTPUT_TOKENS' },
    { function: 'SUM', field: 'BLOCKED' },
  ];
  const q = {
    range: { start: start.toISOString(), end: end.toISOString() },
    groupBy: [dimension], aggregations, limit: 50,
  };
  try {
    const data = await query(BREAKDOWN, { q });
    if (asked !== breakdownAsked) return;
    const key = dimension.toLowerCase();
    $('breakdown').dataset.dimension = dimension;
    $('breakdown-key').textContent = BREAKDOWN_NAMES[dimension];
    const rows = [...data.analytics.rows].sort((a, b) => b.count - a.count);
    document.querySelector('#breakdown tbody').replaceChildren(...rows.map((group) => {
      const row = document.createElement('tr');
      row.dataset.key = group[key];
      const [meanMs, inputTokens, outputTokens, blocked] = group.values.map((v) => v.value);
      cell(row, orDash(group[key]));
      cell(row, String(group.count), 'num');
      cell(row, fixed(meanMs, 1), 'num');
      cell(row, String(inputTokens ?? 0), 'num');
      cell(row, String(outputTokens ?? 0), 'num');
      cell(row, String(blocked ?? 0), 'num');
      return row;
    }));
    $('breakdown-status').textContent = rows.length
      ? `Updated ${timeOf(end.toISOString())}.` : 'No requests in the last hour.';
  } catch (error) {
    if (asked === breakdownAsked) $('breakdown-status').textContent = `Breakdown: ${error.message}`;
  }
}

function followBreakdown() {
  clearInterval(breakdownTimer);
  loadBreakdown();
  breakdownTimer = setInterval(loadBreakdown, BREAKDOWN_REFRESH_MS);
}

function showAlert(event) {
  const row = document.createElement('tr');
  row.className = 'fresh';
  row.dataset.ruleId = event.ruleId;
  row.dataset.state = event.state;
  cell(row, timeOf(event.at));
  cell(row, event.ruleName);
  const state = event.state === 'FIRING' ? 'blocked' : 'ok';
  cell(row, event.state.toLowerCase(), `outcome-${state}`);
  cell(row, fixed(event.value, 3), 'num');
  cell(row, fixed(event.threshold, 3), 'num');
  const body = document.querySelector('#alerts tbody');
  body.prepend(row);
  while (body.rows.length > MAX_FEED_ROWS) body.deleteRow(-1);
  $('alerts-empty').hidden = true;
}

function showAgents() {
  const body = document.querySelector('#agents tbody');
  const rows = [...agents.entries()].sort((a, b) => a[1].name.localeCompare(b[1].name));
  body.replaceChildren(...rows.map(([id, agent]) => {
    const row = document.createElement('tr');
    row.dataset.agentId = id;
    cell(row, agent.name);
    cell(row, agent.status, `status-${agent.status}`);
    cell(row, String(agent.version), 'num');
    cell(row, agent.change);
    return row;
  }));
  $('agents-empty').hidden = agents.size > 0;
}

async function loadAgents() {
  const data = await query(
    '{ agents(first: 100) { edges { node { id name status version updatedAt } } } }',
  );
  agents.clear();
  for (const { node } of data.agents.edges) {
    agents.set(node.id, {
      name: node.name, status: node.status, version: node.version,
      change: `updated ${timeOf(node.updatedAt)}`,
    });
  }
  showAgents();
}

async function onAgentEvent(event) {
  if (event.kind === 'DELETED') {
    agents.delete(event.agentId);
  } else {
    let agent = agents.get(event.agentId);
    if (!agent) {
      const data = await query('query($id: UUID!) { agent(id: $id) { name } }', { id: event.agentId })
        .catch(() => ({ agent: { name: `${event.agentId.slice(0, 8)}…` } }));
      agent = { name: data.agent.name };
      agents.set(event.agentId, agent);
    }
    Object.assign(agent, {
      status: event.status, version: event.version,
      change: `${event.kind.toLowerCase().replace('_', ' ')} ${timeOf(event.timestamp)}`,
    });
  }
  showAgents();
}

// ---------------------------------------------------------------- subscriptions

const SUMMARY = `subscription($w: Int!) { metricsSummary(windowSeconds: $w) {
  sequence lastEventSequence windowSeconds coveredSeconds count errorCount blockedCount
  p50ProcessingTimeMs p95ProcessingTimeMs p99ProcessingTimeMs meanAwarenessLevel
  meanEthicalScore timestamp } }`;
const METRICS = `subscription($since: Int) { metrics(since: $since) {
  sequence requestId agentId timestamp processingTimeMs awarenessLevel ethicalScore
  blocked error violationCategories source model provider inputTokens outputTokens } }`;
const AGENT_EVENTS = `subscription($since: Int) { agentEvents(since: $since) {
  sequence kind agentId status version timestamp } }`;
const ALERTS = `subscription($since: Int) { alerts(since: $since) {
  sequence ruleId ruleName state value threshold at } }`;

let client = null;
let follows = [];

// 4401: the server closes a socket whose token expired or was revoked; 4403: refused at
// connection_init. Either way: a new access token (from the refresh token), a new socket,
// and every subscription resumed from the last sequence it saw.
function isAuthFailure(error) {
  const code = error?.code;
  return code === 4401 || code === 4403
    || (Array.isArray(error) && error[0]?.extensions?.code === 'UNAUTHENTICATED');
}

let renewing = null;
let lastRenewal = 0;
function renewAndReconnect() {
  renewing ??= (async () => {
    if (!auth.refreshToken || Date.now() - lastRenewal < 10_000) {
      signOut('Your session has expired: sign in again.');
      return;
    }
    lastRenewal = Date.now();
    try {
      auth.refreshAt = 0; // force the refresh
      await freshToken();
    } catch {
      signOut('Your session has expired: sign in again.');
      return;
    }
    const old = client;
    openClient();
    old?.dispose();
    connection.reconnects += 1;
    for (const entry of follows) {
      if (entry.stopped) continue;
      if (entry.payload.variables.since != null) connection.resumes += 1;
      entry.run();
    }
    showConnection(null);
  })().finally(() => { renewing = null; });
}

function openClient() {
  // events of a client that was replaced or disposed no longer touch the indicator
  let created = null;
  const current = () => created !== null && created === client;
  created = createClient({
    url: WS_URL.href,
    lazy: false,
    retryAttempts: Infinity,
    retryWait: (retries) => new Promise((resolve) => { setTimeout(resolve, Math.min(500 * 2 ** retries, 10_000)); }),
    shouldRetry: (errOrClose) => !isAuthFailure(errOrClose),
    connectionParams: async () => ({ Authorization: `Bearer ${await freshToken()}` }),
    on: {
      connecting: (isRetry) => {
        if (current()) showConnection(isRetry || connection.connects ? 'reconnecting' : 'connecting');
      },
      connected: (_socket, _payload, wasRetry) => {
        if (!current()) return;
        connection.connects += 1;
        if (wasRetry) {
          connection.reconnects += 1;
          // the client resends each subscription with its current variables: `since` resumes
          connection.resumes += follows.filter((f) => f.payload.variables.since != null).length;
        }
        showConnection('connected');
      },
      closed: (event) => {
        if (current()) showConnection('reconnecting', event?.code ? `closed (${event.code})` : '');
      },
    },
  });
  client = created;
}

function follow(query, variables, field, onData, resumable) {
  const entry = { payload: { query, variables: { ...variables } }, dispose: null, stopped: false };
  const run = () => {
    entry.dispose = client.subscribe(entry.payload, {
      next: (result) => {
        if (result.errors?.length) {
          showConnection(null, result.errors[0].message);
          return;
        }
        const event = result.data[field];
        if (resumable) entry.payload.variables.since = event.sequence;
        if (field === 'metrics') {
          // outside the status live region: it changes with every request
          $('last-event').textContent = `last request event #${event.sequence}`;
        }
        onData(event);
      },
      error: (error) => {
        if (entry.stopped) return;
        if (isAuthFailure(error)) {
          renewAndReconnect();
          return;
        }
        setTimeout(() => {
          if (entry.stopped) return;
          if (resumable && entry.payload.variables.since != null) connection.resumes += 1;
          showConnection(null);
          run();
        }, RESUBSCRIBE_MS);
      },
      complete: () => {},
    });
  };
  entry.run = run;
  entry.stop = () => { entry.stopped = true; entry.dispose?.(); };
  follows.push(entry);
  run();
  return entry;
}

let summaryFollow = null;
function followSummary() {
  summaryFollow?.stop();
  follows = follows.filter((f) => f !== summaryFollow);
  summaryFollow = follow(SUMMARY, { w: Number($('window').value) }, 'metricsSummary', showSummary, false);
}

function stopLive() {
  clearInterval(breakdownTimer);
  breakdownTimer = null;
  for (const entry of follows) entry.stop();
  follows = [];
  summaryFollow = null;
  const old = client;
  client = null;
  old?.dispose();
  showConnection('offline');
}

// ---------------------------------------------------------------- flow

async function start() {
  $('signin').hidden = true;
  $('live').hidden = false;
  $('logout').hidden = false;
  showConnection('connecting');
  try {
    const me = await query('{ me { username } }');
    auth.username = me.me.username;
    saveAuth();
  } catch (error) {
    signOut(error.code === 'UNAUTHENTICATED' ? 'That token is not valid (or has expired).' : error.message);
    return;
  }
  $('who').textContent = `Signed in as ${auth.username}`;
  setupCharts();
  await loadAgents().catch((error) => showConnection(null, `agents: ${error.message}`));
  openClient();
  followSummary();
  follow(METRICS, { since: null }, 'metrics', showRequest, true);
  follow(AGENT_EVENTS, { since: null }, 'agentEvents', onAgentEvent, true);
  followBreakdown();
  follow(ALERTS, { since: null }, 'alerts', showAlert, true);
}

function signOut(message) {
  stopLive();
  if (auth.refreshToken) {
    post('mutation($t: String!) { logout(refreshToken: $t) }', { t: auth.refreshToken }, auth.token)
      .catch(() => {});
  }
  Object.assign(auth, { token: '', refreshToken: '', expiresAt: 0, refreshAt: 0, username: '' });
  sessionStorage.removeItem(STORAGE_KEY);
  $('live').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('last-event').textContent = '';
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('signin-error').textContent = '';
  try {
    const data = await post(
      `mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
        accessToken refreshToken expiresIn user { username } } }`,
      { u: $('username').value, p: $('password').value },
    );
    $('password').value = '';
    setTokens(data.login);
    await start();
  } catch (error) {
    $('signin-error').textContent = error.message;
  }
});

$('token-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const token = $('token').value.trim().replace(/^Bearer\s+/i, '');
  $('token').value = '';
  setTokens({ accessToken: token });
  await start();
});

$('logout').addEventListener('click', () => signOut(''));
for (const dimension of DIMENSIONS) filterOf(dimension).addEventListener('change', applyFilters);
$('group-by').addEventListener('change', followBreakdown);
$('breakdown-refresh').addEventListener('click', loadBreakdown);
$('window').addEventListener('change', () => {
  for (const key of Object.keys(points)) points[key].length = 0;
  redrawCharts();
  if (client) followSummary();
});

loadAuth();
if (auth.token) start();
else signOut('');
