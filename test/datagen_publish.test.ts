/**
 * Publishing a generated folder (src/data/embedded/generate.ts `publishChecksummedFolder`): a folder another process
 * already published, and may be reading, is never deleted or replaced; a stale one is.
 *
 * The failure this guards against (2026-12-04): two suite workers of a fresh clone both generated the v2 benchmark;
 * the second to finish deleted the first one's published folder before moving its own copy in, and the first worker,
 * training from it, failed with "missing image file … parking_32.png".
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CHECKSUM_FILE, folderChecksum, publishChecksummedFolder } from '../src/data/embedded/generate';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'datagen-publish-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A finished temporary folder with the given files. */
function tmpFolder(name: string, files: Record<string, string>): string {
  const dir = path.join(root, name);
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
  return dir;
}

const FILES = { 'fine/images/a_1.png': 'one', 'fine/images/b_2.png': 'two', 'config.json': '{}' };

test('a folder that is already published with the same checksum is kept (same directory and files), the new copy dropped', () => {
  const dir = path.join(root, 'same', 'bench');
  const first = publishChecksummedFolder(tmpFolder('tmp-a', FILES), dir, 'test');
  const dirIno = fs.statSync(dir).ino;
  const fileIno = fs.statSync(path.join(dir, 'fine/images/a_1.png')).ino;
  const reader = fs.openSync(path.join(dir, 'fine/images/b_2.png'), 'r'); // a process reading it
  try {
    const tmpB = tmpFolder('tmp-b', FILES);
    const second = publishChecksummedFolder(tmpB, dir, 'test');
    assert.equal(second, first);
    assert.equal(fs.statSync(dir).ino, dirIno, 'the published directory was replaced');
    assert.equal(fs.statSync(path.join(dir, 'fine/images/a_1.png')).ino, fileIno);
    assert.equal(fs.existsSync(tmpB), false, 'the second copy is removed');
    assert.equal(fs.readFileSync(path.join(dir, CHECKSUM_FILE), 'utf8').trim(), first);
    assert.equal(folderChecksum(dir), first);
  } finally {
    fs.closeSync(reader);
  }
});

test('a stale folder (another checksum, or none) is replaced by the new one and nothing is left beside it', () => {
  const parent = path.join(root, 'stale');
  const dir = path.join(parent, 'bench');
  fs.mkdirSync(path.join(dir, 'fine'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'fine', 'half-written.png'), 'x');
  fs.writeFileSync(path.join(dir, CHECKSUM_FILE), 'deadbeef\n');
  const sum = publishChecksummedFolder(tmpFolder('tmp-c', FILES), dir, 'test');
  assert.equal(folderChecksum(dir), sum);
  assert.equal(fs.existsSync(path.join(dir, 'fine', 'half-written.png')), false);
  assert.deepEqual(fs.readdirSync(parent), ['bench'], 'no .replaced-* folder or temporary copy left');
  // no checksum file at all: replaced as well
  fs.rmSync(path.join(dir, CHECKSUM_FILE));
  const again = publishChecksummedFolder(tmpFolder('tmp-d', { ...FILES, 'config.json': '{"v":2}' }), dir, 'test');
  assert.notEqual(again, sum);
  assert.equal(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'), '{"v":2}');
  assert.deepEqual(fs.readdirSync(parent), ['bench']);
});
