import uWS from 'uWebSockets.js';
const body = new Uint8Array(57000).fill(65);
const app = uWS.App();
app.get('/metrics', (res) => { res.writeStatus('200 OK'); res.writeHeader('Content-Encoding','gzip'); res.end(body); });
app.listen('127.0.0.1', 9556, () => {});
