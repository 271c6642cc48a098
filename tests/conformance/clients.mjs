// Reference clients not written here, against a running server:
//   graphql-ws (graphql-transport-ws): subscribe, complete, reconnect and resume with `since`;
//   Apollo Client: a query over HTTP and a subscription through GraphQLWsLink.
// Usage: node clients.mjs <http url of /graphql> <access token>
// Prints one JSON object of observations; the pytest side makes the assertions.
import { ApolloClient, HttpLink, InMemoryCache, gql, split } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [httpUrl, token] = process.argv.slice(2);
const wsUrl = httpUrl.replace(/^http/, 'ws');
const auth = { Authorization: `Bearer ${token}` };
const STEP_MS = 10_000;

async function post(query, variables) {
  const response = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const CREATE = 'mutation($i: CreateAgentInput!) { createAgent(input: $i) { id version } }';
const UPDATE = `mutation($id: UUID!, $i: UpdateAgentInput!, $v: Int!) {
  updateAgent(id: $id, input: $i, expectedVersion: $v) { version } }`;
const EVENTS = 'subscription($since: Int) { agentEvents(since: $since) { sequence kind agentId version } }';

function withTimeout(promise, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), STEP_MS)),
  ]);
}

// Collect `count` events of one subscription, then complete it from the client side.
function collect(client, query, variables, count) {
  return new Promise((resolve, reject) => {
    const events = [];
    const dispose = client.subscribe(
      { query, variables },
      {
        next: (result) => {
          if (result.errors) return reject(new Error(JSON.stringify(result.errors)));
          events.push(result.data.agentEvents);
          if (events.length === count) {
            dispose();
            resolve(events);
          }
        },
        error: reject,
        complete: () => {
          if (events.length < count) reject(new Error('completed early'));
        },
      },
    );
  });
}

async function graphqlWs() {
  const first = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: auth, lazy: false });
  await withTimeout(new Promise((resolve) => first.on('connected', resolve)), 'connected');
  const live = collect(first, EVENTS, {}, 1);
  await new Promise((r) => setTimeout(r, 300)); // the subscription is registered server-side
  const agent = (await post(CREATE, { i: { name: 'conformance', agentType: 'GENERAL' } })).createAgent;
  const [created] = await withTimeout(live, 'the CREATED event');
  await first.dispose();

  // Offline: two changes the client misses, then a new connection resumes from `since`.
  let version = agent.version;
  for (const name of ['conformance-2', 'conformance-3']) {
    version = (await post(UPDATE, { id: agent.id, i: { name }, v: version })).updateAgent.version;
  }
  const second = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: auth });
  const resumed = await withTimeout(
    collect(second, EVENTS, { since: created.sequence }, 2),
    'the missed events',
  );
  await second.dispose();
  return { created, resumed };
}

async function apollo() {
  const wsClient = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: auth });
  const link = split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    new GraphQLWsLink(wsClient),
    new HttpLink({ uri: httpUrl, headers: auth }),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  const query = await client.query({ query: gql('{ me { username } }'), fetchPolicy: 'no-cache' });
  const event = new Promise((resolve, reject) => {
    const subscription = client
      .subscribe({ query: gql('subscription { agentEvents { kind agentId } }') })
      .subscribe({
        next: (result) => {
          subscription.unsubscribe();
          resolve(result.data.agentEvents);
        },
        error: reject,
      });
  });
  await new Promise((r) => setTimeout(r, 300));
  const agent = (await post(CREATE, { i: { name: 'apollo', agentType: 'GENERAL' } })).createAgent;
  const received = await withTimeout(event, 'the Apollo subscription event');
  await wsClient.dispose();
  return { me: query.data.me, agentId: agent.id, event: received };
}

try {
  const result = { graphqlWs: await graphqlWs(), apollo: await apollo() };
  console.log(JSON.stringify(result));
  process.exit(0);
} catch (error) {
  console.error(error.stack ?? String(error));
  process.exit(1);
}
