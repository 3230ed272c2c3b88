// After npm test: lists and stops every process still carrying this run's ADNOTIFY_TEST_RUN
// (a DC, an SMTP server, an adnotify a test started and did not stop), and exits 1 if any.
//   tsx scripts/leftovers.ts <run id> <pid to ignore (the test script's shell)>
import { readdirSync, readFileSync } from 'node:fs';

const [run, ignore] = process.argv.slice(2);
if (run === undefined) throw new Error('usage: leftovers.ts <run id> <pid to ignore>');
const marker = `ADNOTIFY_TEST_RUN=${run}`;
let proc: string[];
try {
  proc = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
} catch {
  process.stderr.write('leftovers: no /proc here; not checked\n');
  process.exit(0);
}
const found: { pid: number; cmd: string }[] = [];
for (const pid of proc) {
  if (pid === ignore || pid === String(process.pid)) continue;
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    if (!env.includes(marker)) continue;
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    found.push({ pid: Number(pid), cmd });
  } catch {
    // gone meanwhile, or not ours to read
  }
}
if (found.length === 0) process.exit(0);
process.stderr.write(`\nleftovers: ${found.length} process(es) started by the tests are still running:\n`);
for (const { pid, cmd } of found) {
  process.stderr.write(`  ${pid}  ${cmd.slice(0, 200)}\n`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
process.stderr.write(
  'leftovers: stopped them; a test must stop every process it starts, also when it fails\n',
);
process.exit(1);
