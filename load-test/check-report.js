'use strict';
// check-report.js REPORT.json TURNS: prints what a run measured and exits 1 unless every conversation
// completed with every turn answered and no error. It asserts outcomes, never timings: the timings are the
// measurements (README.md), and a busy machine must not fail the smoke run.
const fs = require('node:fs');

function check(report, turns) {
  const counters = report.aggregate.counters || {};
  const summaries = report.aggregate.summaries || {};
  const created = counters['vusers.created'] || 0;
  const completed = counters['vusers.completed'] || 0;
  const failed = counters['vusers.failed'] || 0;
  const answered = counters['novasonic.turns_answered'] || 0;
  const errors = Object.entries(counters).filter(([k, v]) => k.startsWith('errors.') && v > 0);
  const problems = [];
  if (created === 0) problems.push('no conversation was started');
  if (completed !== created || failed > 0) problems.push(`${completed} of ${created} conversations completed, ${failed} failed`);
  if (answered !== completed * turns) problems.push(`${answered} turns answered, want ${completed * turns} (${turns} per conversation)`);
  for (const [k, v] of errors) problems.push(`${v} × ${k.slice('errors.'.length)}`);

  const lines = [`conversations: ${created} started, ${completed} completed, ${failed} failed; turns answered: ${answered}`];
  for (const [name, label] of [['novasonic.connect_ms', 'connect'], ['novasonic.authorize_ms', 'authorize'], ['novasonic.first_audio_ms', 'first assistant audio after the question']]) {
    const s = summaries[name];
    if (s) lines.push(`${label} ms: p50 ${s.median.toFixed(0)}, p95 ${s.p95.toFixed(0)}, p99 ${s.p99.toFixed(0)}, max ${s.max.toFixed(0)} (${s.count} samples)`);
  }
  return { lines, problems };
}

if (require.main === module) {
  const [file, turnsArg] = process.argv.slice(2);
  const turns = Number(turnsArg);
  if (!file || !(turns > 0)) {
    console.error('usage: check-report.js REPORT.json TURNS');
    process.exit(2);
  }
  const { lines, problems } = check(JSON.parse(fs.readFileSync(file, 'utf8')), turns);
  for (const l of lines) console.log(l);
  for (const p of problems) console.error(`FAIL: ${p}`);
  process.exit(problems.length ? 1 : 0);
}

module.exports = { check };
