import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'stream';
import { createProgress, formatDuration, ProgressState, setProgressSink } from '../src/utils/progress';

/** A non-TTY stream collecting what is written. */
function sink(): { stream: Writable & { isTTY?: boolean }; lines: () => string[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  }) as Writable & { isTTY?: boolean };
  stream.isTTY = false;
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

test('non-TTY: one plain line per 10 % step plus a final line, with counts, eta and info', () => {
  const prevEnv = process.env.KIT_PROGRESS;
  delete process.env.KIT_PROGRESS;
  try {
    let now = 0;
    const out = sink();
    const p = createProgress('train', 100, { stream: out.stream, now: () => now });
    for (let i = 0; i < 100; i++) {
      now += 10; // 10 ms per item: never reaches the 5 s time throttle
      p.tick(1, `loss ${(1 / (i + 1)).toFixed(3)}`);
    }
    p.done('best 0.010');
    p.done('ignored'); // idempotent
    const lines = out.lines();
    assert.equal(lines.length, 10, `9 step lines (10 %..90 %) + 1 final line, got:\n${lines.join('\n')}`);
    assert.equal(lines[0], '[train] 10/100 (10%) 0.1 s, eta 0.9 s | loss 0.100');
    assert.match(lines[8], /^\[train\] 90\/100 \(90%\)/);
    assert.equal(lines[9], '[train] 100/100 (100%) done in 1.0 s | best 0.010');
    assert.ok(lines.every((l) => !l.includes('\r') && !l.includes('\x1b')), 'no carriage returns or ANSI codes in logs');
  } finally {
    if (prevEnv !== undefined) process.env.KIT_PROGRESS = prevEnv;
  }
});

test('non-TTY: slow loops print at most every minIntervalMs between percent steps', () => {
  let now = 0;
  const out = sink();
  const p = createProgress('slow', 1000, { stream: out.stream, now: () => now, minIntervalMs: 5000, percentStep: 0.5 });
  for (let i = 0; i < 20; i++) {
    now += 1000;
    p.tick();
  }
  // 20 ticks over 20 s, 2 % done: lines at 5, 10, 15, 20 s only.
  assert.deepEqual(
    out.lines().map((l) => l.split(' ')[1]),
    ['5/1000', '10/1000', '15/1000', '20/1000'],
  );
});

test('unknown total, KIT_PROGRESS=off, and bad totals', () => {
  const out = sink();
  const p = createProgress('scan', 0, { stream: out.stream, now: () => 0 });
  p.tick(3);
  p.done();
  assert.deepEqual(out.lines(), ['[scan] 3 done in 0.0 s']);

  const prevEnv = process.env.KIT_PROGRESS;
  process.env.KIT_PROGRESS = 'off';
  try {
    const quiet = sink();
    const q = createProgress('quiet', 10, { stream: quiet.stream });
    q.tick(10);
    q.done();
    assert.deepEqual(quiet.lines(), []);
  } finally {
    if (prevEnv === undefined) delete process.env.KIT_PROGRESS;
    else process.env.KIT_PROGRESS = prevEnv;
  }
  assert.throws(() => createProgress('bad', -1), /total must be >= 0/);
  assert.equal(formatDuration(125_000), '2 min 05 s');
});

test('a registered sink (the notebook hook) receives updates and the final state instead of the stream', () => {
  const states: { kind: string; st: ProgressState }[] = [];
  setProgressSink((label, total) => {
    assert.equal(label, 'nb');
    assert.equal(total, 4);
    return { update: (st) => states.push({ kind: 'update', st }), done: (st) => states.push({ kind: 'done', st }) };
  });
  try {
    const out = sink();
    let now = 0;
    const p = createProgress('nb', 4, { stream: out.stream, now: () => now });
    for (let i = 0; i < 4; i++) {
      now += 1000;
      p.tick(1, `i=${i}`);
    }
    p.done('ok');
    assert.deepEqual(out.lines(), [], 'nothing goes to the stream when a sink is set');
    const last = states[states.length - 1];
    assert.equal(last.kind, 'done');
    assert.equal(last.st.current, 4);
    assert.equal(last.st.finished, true);
    assert.equal(last.st.info, 'ok');
    assert.ok(states.filter((s) => s.kind === 'update').length >= 2);
  } finally {
    setProgressSink(null);
  }
});
