import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { preprocess, readIdx, readLabelledImages } from '../../src/supernet/dataset.js';
import { SUPERNET_DIR } from '../helpers.js';

describe('IDX reader', () => {
  it('reads the committed sample and applies the manifest preprocessing', () => {
    const cat = Catalogue.load(SUPERNET_DIR);
    const s = cat.manifest.sample!;
    const set = readLabelledImages(cat.path(s.images), cat.path(s.labels));
    expect(set.height).toBe(28);
    expect(set.width).toBe(28);
    expect(set.count).toBeGreaterThan(100);
    expect(Math.max(...set.labels)).toBeLessThan(10);
    const x = preprocess(set, cat.manifest.input.preprocessing, 0, 2);
    expect(x.length).toBe(2 * 784);
    const pre = cat.manifest.input.preprocessing;
    expect(x[0]).toBeCloseTo(((set.pixels[0] ?? 0) * pre.scale - pre.mean) / pre.std, 5);
  });

  it('rejects files that are not IDX or whose size disagrees with the header', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idx-'));
    writeFileSync(join(dir, 'bad'), Buffer.from('hello world'));
    expect(() => readIdx(join(dir, 'bad'))).toThrow(/not an unsigned-byte IDX file/);
    const header = Buffer.from([0, 0, 8, 1, 0, 0, 0, 5]);
    writeFileSync(join(dir, 'short.gz'), gzipSync(Buffer.concat([header, Buffer.from([1, 2, 3])])));
    expect(() => readIdx(join(dir, 'short.gz'))).toThrow(/header says 5 bytes of data, file has 3/);
    expect(() => readIdx(join(dir, 'absent'))).toThrow(/not found/);
  });
});
