// @ts-check
/**
 * Records every network request made by every target of a browser (pages,
 * the service worker, the offscreen document and its dedicated worker)
 * through the DevTools protocol: Playwright does not see offscreen
 * documents, so this attaches at the browser level, auto-attaching to each
 * target and its workers, with the Network domain on everywhere. Requests
 * Chromium makes for itself (update checks, sign-in) belong to no target
 * and are not the extension's; they are not recorded.
 */

import { createServer } from 'node:net';
import { ws as WebSocket } from 'playwright-core/lib/utilsBundle';

/** A free TCP port on 127.0.0.1 for `--remote-debugging-port`. */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  await new Promise((resolve) => server.close(() => resolve(undefined)));
  return port;
}

/**
 * @typedef {{url: string, method: string, target: string, targetType: string}} Recorded
 * @param {number} port the browser's remote-debugging port
 * @returns {Promise<{requests: Recorded[], close: () => void}>}
 */
export async function recordNetwork(port) {
  const { webSocketDebuggerUrl } = await (await fetch(`http://127.0.0.1:${port}/json/version`)).json();
  const socket = new WebSocket(webSocketDebuggerUrl, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  /** @type {Recorded[]} */
  const requests = [];
  /** sessionId → the target it is attached to */
  /** @type {Map<string, {url: string, type: string}>} */
  const sessions = new Map();
  let nextId = 1;
  const send = (/** @type {string} */ method, /** @type {object} */ params = {}, /** @type {string} */ sessionId = '') =>
    socket.send(JSON.stringify({ id: nextId++, method, params, ...(sessionId ? { sessionId } : {}) }));
  const autoAttach = { autoAttach: true, waitForDebuggerOnStart: true, flatten: true };

  socket.on('message', (data) => {
    const message = JSON.parse(String(data));
    if (message.method === 'Target.attachedToTarget') {
      const { sessionId, targetInfo } = message.params;
      sessions.set(sessionId, { url: targetInfo.url, type: targetInfo.type });
      send('Network.enable', {}, sessionId);
      send('Target.setAutoAttach', autoAttach, sessionId); // its workers too
      send('Runtime.runIfWaitingForDebugger', {}, sessionId);
    } else if (message.method === 'Target.targetInfoChanged') {
      for (const session of sessions.values()) {
        if (session.url === '' || session.url === 'about:blank') session.url = message.params.targetInfo.url;
      }
    } else if (message.method === 'Network.requestWillBeSent') {
      const target = sessions.get(message.sessionId) ?? { url: '?', type: '?' };
      const { url, method } = message.params.request;
      requests.push({ url, method, target: target.url, targetType: target.type });
    }
  });
  send('Target.setDiscoverTargets', { discover: true });
  send('Target.setAutoAttach', autoAttach);
  return { requests, close: () => socket.close() };
}
