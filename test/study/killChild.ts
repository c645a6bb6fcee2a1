/**
 * Child process of study.test.ts: runs the study in `out` and kills itself with SIGKILL (no cleanup, like
 * a power cut or `kill -9`) right after optimiser step `step` of run `run`.
 * Usage: tsx test/study/killChild.ts <config.json> <out> <run id> <step>
 */
import { processIo } from '../../src/cli/common.js';
import { loadStudyConfig } from '../../src/study/config.js';
import { runStudy } from '../../src/study/runner.js';

const [configFile, out, runId, step] = process.argv.slice(2) as [string, string, string, string];
await runStudy({
  out,
  config: loadStudyConfig(configFile),
  io: processIo(),
  onTrainStep: (id, s) => {
    if (id === runId && s === Number(step)) process.kill(process.pid, 'SIGKILL');
  },
});
console.log('finished without being killed');
