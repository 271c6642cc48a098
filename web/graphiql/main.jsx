// The self-hosted GraphiQL: queries and mutations over HTTP POST, subscriptions over
// graphql-transport-ws. The header editor's JSON (e.g. {"Authorization": "Bearer …"}) goes
// into every HTTP request and into the websocket's connection_init payload, which is where
// the server reads a websocket's credentials.
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { getOperationAST, parse } from 'graphql';
import { createClient } from 'graphql-ws';
import { createRoot } from 'react-dom/client';

const DEFAULT_QUERY = `# Welcome to the Consciousness API playground.
#
# 1. Sign in (or register) to get a token:
#
#      mutation { login(username: "demo", password: "…") { accessToken } }
#
# 2. Put it in the Headers tab below:  {"Authorization": "Bearer <accessToken>"}
#    (HTTP requests and subscriptions both use it).
#
# 3. Try a query, or a subscription such as:
#
#      subscription { metricsSummary(windowSeconds: 60) { count p95ProcessingTimeMs } }

query Health {
  systemHealth { status checkedAt }
}
`;

const mount = document.getElementById('graphiql');
const endpoint = new URL(mount.dataset.endpoint || '/graphql', window.location.href);
const wsEndpoint = new URL(endpoint);
wsEndpoint.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

function isSubscription(params) {
  try {
    const operation = getOperationAST(parse(params.query), params.operationName || undefined);
    return operation?.operation === 'subscription';
  } catch {
    return false; // let the server report the syntax error
  }
}

// One websocket per distinct set of headers: changing the Authorization header opens a new
// connection with the new credentials (and closes the old one when it is idle).
const sockets = new Map();
function socketFor(headers) {
  const key = JSON.stringify(headers);
  let client = sockets.get(key);
  if (!client) {
    for (const [otherKey, other] of sockets) {
      other.dispose();
      sockets.delete(otherKey);
    }
    client = createClient({ url: wsEndpoint.href, connectionParams: { ...headers }, lazy: true });
    sockets.set(key, client);
  }
  return client;
}

async function fetchOverHttp(params, headers) {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/json', ...headers },
    body: JSON.stringify(params),
    credentials: 'same-origin',
  });
  if (!(response.headers.get('content-type') || '').includes('json')) {
    // e.g. strawberry's plain-text 400 for an unknown operationName
    return { errors: [{ message: `${response.status}: ${await response.text()}` }] };
  }
  return response.json();
}

function fetcher(params, options) {
  const headers = options?.headers ?? {};
  if (isSubscription(params)) {
    return socketFor(headers).iterate({
      query: params.query,
      variables: params.variables ?? undefined,
      operationName: params.operationName ?? undefined,
    });
  }
  return fetchOverHttp(params, headers);
}

createRoot(mount).render(
  <GraphiQL
    fetcher={fetcher}
    defaultQuery={DEFAULT_QUERY}
    isHeadersEditorEnabled
    defaultEditorToolsVisibility="headers"
    shouldPersistHeaders={false}
  />,
);
