// 1-connection raw HTTP client; prints where in the publish cycle slow responses fall
import net from 'node:net';
const port = 9555, secs = Number(process.argv[2] ?? 10);
const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
const ts = Number(/^probex_snapshot_timestamp_seconds (\S+)/m.exec(text)[1]) * 1000;
const req = Buffer.from(`GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n`);
const sock = net.connect(port, '127.0.0.1');
await new Promise((r) => sock.on('connect', r));
let t0 = 0, got = 0, need = -1, buf = [];
const lat = [], slow = [];
const end = Date.now() + secs * 1000;
function send() { got = 0; need = -1; buf = []; t0 = performance.now(); sock.write(req); }
sock.on('data', (d) => {
  got += d.length; buf.push(d);
  if (need < 0) { const s = Buffer.concat(buf).toString('latin1'); const i = s.indexOf('\r\n\r\n'); if (i < 0) return; const m = /content-length: (\d+)/i.exec(s); need = i + 4 + Number(m[1]); }
  if (got < need) return;
  const ms = performance.now() - t0; lat.push(ms);
  if (ms > 1) slow.push([((Date.now() - ts) % 1000 + 1000) % 1000, ms]);
  if (Date.now() < end) send(); else done();
});
function done() {
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.floor(p * (lat.length - 1))].toFixed(3);
  console.log(`n=${lat.length} p50=${q(0.5)} p90=${q(0.9)} p99=${q(0.99)} slow(>1ms)=${slow.length}`);
  const hist = new Array(10).fill(0); for (const [ph] of slow) hist[Math.floor(ph / 100)]++;
  console.log('slow by phase (100ms bins after publish):', hist.join(' '));
  sock.destroy();
}
send();
