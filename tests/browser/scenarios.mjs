// Browser scenarios for tests/browser/test_browser.py, driven with playwright-core and the
// system's chromium. Usage: node scenarios.mjs '<json options>'; prints one JSON object.
//
// Every page is loaded with the Content-Security-Policy we intend to ship (added to each
// response by a route), and every request URL, websocket URL and CSP violation is recorded,
// so the Python side can assert that nothing left our origin and nothing was refused.
import { chromium } from 'playwright-core';

const options = JSON.parse(process.argv[2]);
const { url, chromiumPath, artifacts, csp } = options;
const STEP_MS = 15_000;

async function graphql(query, variables, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${url}/graphql`, {
    method: 'POST', headers, body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

let currentPage = null; // for the failure screenshot and report
let currentRecord = null;

async function openPage(browser, viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  currentPage = page;
  const record = { requests: [], websockets: [], framesSent: [], console: [], pageErrors: [] };
  currentRecord = record;
  page.on('request', (request) => record.requests.push(request.url()));
  page.on('websocket', (ws) => {
    record.websockets.push(ws.url());
    ws.on('framesent', (frame) => record.framesSent.push(String(frame.payload)));
  });
  page.on('console', (message) => {
    if (['error', 'warning'].includes(message.type())) record.console.push(message.text().slice(0, 300));
  });
  page.on('pageerror', (error) => record.pageErrors.push(String(error)));
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
    });
  });
  await context.route('**/*', async (route) => {
    if (!route.request().url().startsWith(url)) {
      await route.abort(); // recorded above; the test fails on it
      return;
    }
    const response = await route.fetch();
    await route.fulfill({
      response, headers: { ...response.headers(), 'content-security-policy': csp },
    });
  });
  return { page, record };
}

async function finish(page, record) {
  record.cspViolations = await page.evaluate(() => window.__cspViolations);
  return record;
}

async function setEditor(page, selector, value) {
  await page.waitForSelector(selector, { timeout: STEP_MS });
  await page.evaluate(([sel, text]) => document.querySelector(sel).CodeMirror.setValue(text), [selector, value]);
}

async function setQuery(page, operationName, text) {
  await setEditor(page, '.graphiql-query-editor .CodeMirror', text);
  // GraphiQL re-reads the operation name shortly after an edit; run only once it has
  await page.waitForFunction((name) => document.querySelector('.graphiql-tab-active')?.textContent.includes(name)
    || document.querySelector('.graphiql-tab-button')?.textContent === name, operationName, { timeout: STEP_MS });
}

const resultText = (page) => page.evaluate(() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue());

async function waitForResult(page, needle) {
  await page.waitForFunction(
    (text) => document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue().includes(text),
    needle, { timeout: STEP_MS, polling: 50 },
  );
  return resultText(page);
}

async function graphiql(browser) {
  const { token, agentId } = options;
  const { page, record } = await openPage(browser, { width: 1280, height: 800 });
  await page.goto(`${url}/graphql`);
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: STEP_MS });
  await page.getByRole('button', { name: 'Headers' }).click();
  await setEditor(page, '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror',
    JSON.stringify({ Authorization: `Bearer ${token}` }));

  await setQuery(page, 'Me', 'query Me { me { username tier } }');
  await page.click('.graphiql-execute-button');
  const query = await waitForResult(page, '"username"');

  await setQuery(page, 'Live', 'subscription Live { metrics { sequence requestId ethicalScore } }');
  await page.click('.graphiql-execute-button');
  // the subscription is live once its "subscribe" message went out on the websocket
  const deadline = Date.now() + STEP_MS;
  while (!record.framesSent.some((f) => f.includes('"subscribe"')) && Date.now() < deadline) {
    await page.waitForTimeout(50);
  }
  const sent = await graphql(
    'mutation($i: ProcessInput!) { process(input: $i) { requestId } }',
    { i: { agentId, input: 'Hello from the GraphiQL browser test.' } }, token,
  );
  const subscription = await waitForResult(page, sent.process.requestId);
  await page.screenshot({ path: `${artifacts}/graphiql.png` });
  await page.click('.graphiql-execute-button'); // stop the subscription

  // the documentation explorer (needs the introspected schema) and a modal dialog: under
  // the policy, any <style> they inject would show up as a violation
  await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
  await page.getByText('A GraphQL schema provides a root type', { exact: false })
    .or(page.locator('.graphiql-doc-explorer-title')).first().waitFor({ timeout: STEP_MS });
  await page.getByRole('button', { name: 'Open settings dialog' }).click();
  await page.getByRole('dialog').waitFor({ timeout: STEP_MS });
  await page.screenshot({ path: `${artifacts}/graphiql-settings.png` });
  await page.keyboard.press('Escape');
  return { ...(await finish(page, record)), query, subscription, requestId: sent.process.requestId };
}

async function dashboard(browser) {
  const { username, password, token, agentId } = options;
  const { page, record } = await openPage(browser, { width: 1280, height: 900 });
  await page.goto(`${url}/dashboard`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: STEP_MS });
  await page.waitForSelector(`#agents tr[data-agent-id="${agentId}"]`, { timeout: STEP_MS });
  await page.waitForFunction(() => Number(document.querySelector('.charts').dataset.points || 0) >= 1,
    null, { timeout: STEP_MS });
  const canvases = await page.evaluate(() => [...document.querySelectorAll('.charts canvas')]
    .map((canvas) => [canvas.clientWidth, canvas.clientHeight]));

  // a request sent now must be in the feed, and counted in the charts, within 2 seconds
  const started = Date.now();
  const sent = await graphql(
    'mutation($i: ProcessInput!) { process(input: $i) { requestId } }',
    { i: { agentId, input: 'Please email me at someone@example.org about the results.' } }, token,
  );
  const requestId = sent.process.requestId;
  await page.waitForFunction((id) => {
    const row = document.querySelector(`#feed tr[data-request-id="${id}"]`);
    const charts = document.querySelector('.charts');
    return row && Number(charts.dataset.lastEventSequence) >= Number(row.dataset.sequence);
  }, requestId, { timeout: 5000, polling: 50 });
  const feedAndChartsMs = Date.now() - started;
  const row = await page.evaluate((id) => [...document.querySelector(`#feed tr[data-request-id="${id}"]`).cells]
    .map((c) => c.textContent), requestId);
  const summaryCount = Number(await page.textContent('#s-count'));

  // a GenAI span sent to /v1/traces (OTLP/JSON, an ingestion key) arrives in the feed with
  // its source, model, provider and tokens; the filters and the breakdown use them
  const observed = await observeSpan(page, token);


  // an agent status change arrives through agentEvents
  const pausedAt = Date.now();
  await graphql('mutation($id: UUID!) { pauseAgent(id: $id) { status } }', { id: agentId }, token);
  await page.waitForFunction((id) => document.querySelector(`#agents tr[data-agent-id="${id}"]`)
    ?.cells[1].textContent === 'PAUSED', agentId, { timeout: 5000, polling: 50 });
  const agentStatusMs = Date.now() - pausedAt;
  await graphql('mutation($id: UUID!) { activateAgent(id: $id) { status } }', { id: agentId }, token);
  await page.waitForFunction((id) => document.querySelector(`#agents tr[data-agent-id="${id}"]`)
    ?.cells[1].textContent === 'ACTIVE', agentId, { timeout: 5000, polling: 50 });

  await page.waitForTimeout(300);
  await page.screenshot({ path: `${artifacts}/dashboard-1280.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const phone = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
  }));
  await page.screenshot({ path: `${artifacts}/dashboard-phone.png`, fullPage: true });
  const connection = await page.evaluate(() => ({ ...document.querySelector('#connection').dataset }));
  return {
    ...(await finish(page, record)),
    canvases, requestId, row, feedAndChartsMs, summaryCount, agentStatusMs, phone, connection,
    observed,
  };
}

async function observeSpan(page, token) {
  const { key } = (await graphql('mutation { createApiKey(name: "browser") { key } }', {}, token))
    .createApiKey;
  const attribute = (name, value) => ({
    key: name, value: typeof value === 'number' ? { intValue: String(value) } : { stringValue: value },
  });
  const now = BigInt(Date.now()) * 1_000_000n;
  const span = {
    traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 'chat', kind: 3,
    startTimeUnixNano: String(now - 250_000_000n), endTimeUnixNano: String(now),
    attributes: [
      attribute('gen_ai.operation.name', 'chat'),
      attribute('gen_ai.provider.name', 'browser-provider'),
      attribute('gen_ai.request.model', 'browser-model-1'),
      attribute('gen_ai.usage.input_tokens', 12),
      attribute('gen_ai.usage.output_tokens', 34),
      attribute('gen_ai.input.messages',
        '[{"role":"user","parts":[{"type":"text","content":"Which train goes to Porto?"}]}]'),
      attribute('gen_ai.output.messages',
        '[{"role":"assistant","parts":[{"type":"text","content":"The Alfa Pendular."}]}]'),
    ],
  };
  const document = { resourceSpans: [{
    resource: { attributes: [attribute('service.name', 'Browser agent')] },
    scopeSpans: [{ scope: { name: 'browser-test' }, spans: [span] }],
  }] };
  const sent = await fetch(`${url}/v1/traces`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify(document),
  });
  if (sent.status !== 200) throw new Error(`/v1/traces answered ${sent.status}: ${await sent.text()}`);
  const otlpRow = await page.waitForSelector('#feed tr[data-source="otlp"]', { timeout: STEP_MS });
  const row = await otlpRow.evaluate((r) => [...r.cells].map((c) => c.textContent));
  const visible = () => page.evaluate(() => [...document.querySelectorAll('#feed tbody tr')]
    .filter((r) => !r.hidden).map((r) => r.dataset.source));
  const all = await visible();
  await page.selectOption('#filter-source', 'otlp');
  const otlpOnly = await visible();
  await page.selectOption('#filter-source', '');
  await page.selectOption('#filter-model', 'browser-model-1');
  const modelOnly = await visible();
  const shownText = await page.textContent('#feed-shown');
  await page.selectOption('#filter-model', '');

  // the breakdown reads analytics, which the metrics writer fills a moment later
  const breakdown = async (dimension) => {
    await page.selectOption('#group-by', dimension);
    const deadline = Date.now() + STEP_MS;
    for (;;) {
      const [shown, rows] = await page.evaluate(() => [
        document.querySelector('#breakdown').dataset.dimension,
        [...document.querySelectorAll('#breakdown tbody tr')].map((r) => [...r.cells].map((c) => c.textContent)),
      ]);
      const keys = ['browser-model-1', 'otlp', 'browser-provider'];
      if (shown === dimension && rows.some((r) => keys.includes(r[0]))) {
        return { header: await page.textContent('#breakdown-key'), rows };
      }
      if (Date.now() > deadline) throw new Error(`no ${dimension} breakdown row: ${JSON.stringify(rows)}`);
      await page.click('#breakdown-refresh');
      await page.waitForTimeout(300);
    }
  };
  const byModel = await breakdown('MODEL');
  const bySource = await breakdown('SOURCE');
  const byProvider = await breakdown('PROVIDER');
  return { row, all, otlpOnly, modelOnly, shownText, byModel, bySource, byProvider };
}

async function alerts(browser) {
  const { username, password, token, agentId } = options;
  const { page, record } = await openPage(browser, { width: 1280, height: 900 });
  await page.goto(`${url}/dashboard`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: STEP_MS });
  // a rule that fires on the first request in 5 minutes; the server evaluates twice a second
  await graphql(
    'mutation($i: AlertRuleInput!) { createAlertRule(input: $i) { rule { id } } }',
    { i: { name: 'any request', function: 'COUNT', comparator: 'GE', threshold: 1,
           windowSeconds: 300 } }, token,
  );
  await graphql('mutation($i: ProcessInput!) { process(input: $i) { requestId } }',
    { i: { agentId, input: 'Hello there, how are you?' } }, token);
  await page.waitForSelector('#alerts tr[data-state="FIRING"]', { timeout: STEP_MS });
  const row = await page.evaluate(() => [...document.querySelector('#alerts tr[data-state="FIRING"]').cells]
    .map((c) => c.textContent));
  const emptyHidden = await page.evaluate(() => document.querySelector('#alerts-empty').hidden);
  return { ...(await finish(page, record)), row, emptyHidden };
}

async function resume(browser) {
  // The websocket runs through a proxy route the test can cut. A request processed while
  // the dashboard is disconnected must reach the feed after the reconnect, because the
  // metrics subscription resumes with `since` = the last sequence it saw.
  const { token, agentId } = options;
  const { page, record } = await openPage(browser, { width: 1280, height: 900 });
  let current = null;
  let held = false;
  await page.routeWebSocket(/\/graphql$/, (ws) => {
    if (held) {
      ws.close({ code: 4499, reason: 'test: still cut' });
      return;
    }
    current = { ws, server: ws.connectToServer() };
  });
  await page.goto(`${url}/dashboard`);
  // this time with a pasted access token instead of the password
  await page.getByLabel('…or paste an access token').fill(`Bearer ${token}`);
  await page.getByRole('button', { name: 'Use token' }).click();
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: STEP_MS });
  const process = async (input) => (await graphql(
    'mutation($i: ProcessInput!) { process(input: $i) { requestId } }', { i: { agentId, input } }, token,
  )).process.requestId;
  const rowOf = (id) => page.waitForSelector(`#feed tr[data-request-id="${id}"]`, { timeout: STEP_MS });
  const before = await process('Before the connection drops.');
  await rowOf(before);

  held = true;
  current.server.close({ code: 1001, reason: 'test' });
  current.ws.close({ code: 4499, reason: 'test: cut' });
  await page.waitForSelector('#connection[data-state="reconnecting"]', { timeout: STEP_MS });
  const during = await process('While the dashboard is disconnected.');
  const stateWhileCut = await page.evaluate(() => document.querySelector('#connection').dataset.state);
  held = false;
  await rowOf(during);
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: STEP_MS });
  const after = await process('After the reconnect.');
  await rowOf(after);
  const order = await page.evaluate(() => [...document.querySelectorAll('#feed tbody tr')]
    .map((row) => row.dataset.requestId));
  const connection = await page.evaluate(() => ({ ...document.querySelector('#connection').dataset }));
  const text = await page.textContent('#connection-text');
  const who = await page.textContent('#who');
  await page.screenshot({ path: `${artifacts}/dashboard-resumed.png` });
  return { ...(await finish(page, record)), before, during, after, order, stateWhileCut, connection, text, who };
}

async function renewal(browser) {
  const { username, password, agentId, expirySeconds } = options;
  const { page, record } = await openPage(browser, { width: 1280, height: 900 });
  await page.goto(`${url}/dashboard`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: STEP_MS });
  // the test's own token, good for one request at a time
  const login = async () => (await graphql(
    'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }',
    { u: username, p: password },
  )).login.accessToken;
  const process = async (input) => (await graphql(
    'mutation($i: ProcessInput!) { process(input: $i) { requestId } }', { i: { agentId, input } },
    await login(),
  )).process.requestId;
  const before = await process('Before the token expires.');
  await page.waitForSelector(`#feed tr[data-request-id="${before}"]`, { timeout: STEP_MS });
  // past the expiry: the server has closed the socket, the page has renewed and reconnected
  await page.waitForFunction(() => Number(document.querySelector('#connection').dataset.reconnects) >= 1,
    null, { timeout: (expirySeconds + 10) * 1000 });
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: STEP_MS });
  const after = await process('After the token was renewed.');
  await page.waitForSelector(`#feed tr[data-request-id="${after}"]`, { timeout: STEP_MS });
  const order = await page.evaluate(() => [...document.querySelectorAll('#feed tbody tr')]
    .map((row) => row.dataset.requestId));
  const connection = await page.evaluate(() => ({ ...document.querySelector('#connection').dataset }));
  const signinHidden = await page.evaluate(() => document.querySelector('#signin').hidden);
  return { ...(await finish(page, record)), before, after, order, connection, signinHidden };
}

async function apidocs(browser) {
  // the REST reference: Swagger UI renders every operation of /api/v1/openapi.json
  const { page, record } = await openPage(browser, { width: 1280, height: 900 });
  await page.goto(`${url}/api/v1/docs`);
  await page.waitForSelector('.opblock', { timeout: STEP_MS });
  const operations = await page.evaluate(() => [...document.querySelectorAll('.opblock')]
    .map((block) => block.querySelector('.opblock-summary-path')?.textContent.replace(/\u200b/g, '')));
  await page.locator('.opblock-summary', { hasText: '/api/v1/auth/login' }).first().click();
  await page.waitForSelector('.opblock.is-open .responses-table', { timeout: STEP_MS });
  await page.screenshot({ path: `${artifacts}/apidocs.png` });
  return { ...(await finish(page, record)), operations };
}

async function screenshot(browser) {
  // docs/dashboard.png: the demo server's dashboard after it has collected some data
  const { page, record } = await openPage(browser, { width: 1280, height: 900 });
  await page.goto(`${url}/dashboard`);
  await page.getByLabel('Username').fill(options.username);
  await page.getByLabel('Password').fill(options.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: STEP_MS });
  await page.waitForTimeout(options.waitMs ?? 30_000);
  await page.screenshot({ path: options.path, fullPage: false });
  return finish(page, record);
}

const scenarios = { graphiql, dashboard, alerts, resume, renewal, apidocs, screenshot };
const browser = await chromium.launch({
  executablePath: chromiumPath,
  // Responses fulfilled by the CSP route have no server address, so Chromium's Local
  // Network Access checks would count the page as public and block its websocket to
  // 127.0.0.1; a page really served from 127.0.0.1 is not blocked.
  args: ['--headless', '--no-sandbox', '--disable-features=LocalNetworkAccessChecks'],
});
try {
  const result = await scenarios[options.scenario](browser);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  await currentPage?.screenshot({ path: `${artifacts}/${options.scenario}-failure.png` }).catch(() => {});
  process.stderr.write(`what the page did: ${JSON.stringify(currentRecord, null, 1)}\n`);
  throw error;
} finally {
  await browser.close();
}
