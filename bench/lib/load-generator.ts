/**
 * One load generator of bench/process/load.ts: a child process running autocannon against one URL and recording
 * every response's latency in µs (autocannon's own histogram has 1 ms resolution). load.ts runs one per
 * core so that the generator, not node's single event loop, decides how hard a server is pushed.
 *   tsx bench/lib/load-generator.ts '<GeneratorTask as JSON>'
 * Prints one GeneratorReport as a JSON line on stdout when done.
 */
import autocannon from 'autocannon';
import * as hdr from 'hdr-histogram-js';
import type { GeneratorReport, GeneratorTask } from './load-ipc.ts';

/** run drives task.url for task.seconds and reports what it measured. */
async function run(task: GeneratorTask): Promise<GeneratorReport> {
  const latencyUs = hdr.build({ numberOfSignificantValueDigits: 3 });
  const cpu0 = process.cpuUsage();
  const instance = autocannon({
    url: task.url,
    connections: task.connections,
    duration: task.seconds,
    headers: { ...task.headers },
  });
  instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
    latencyUs.recordValue(Math.round(ms * 1000));
  });
  const result = await instance;
  const cpu = process.cpuUsage(cpu0);
  return {
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    seconds: result.duration,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    latencyUsBase64: hdr.encodeIntoCompressedBase64(latencyUs),
  };
}

const task = process.argv[2];
if (task === undefined) throw new Error('usage: load-generator.ts <GeneratorTask as JSON>');
process.stdout.write(`${JSON.stringify(await run(JSON.parse(task) as GeneratorTask))}\n`);
