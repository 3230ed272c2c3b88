/** A cycle's objects in chunks by object and event count. */
import { describe, expect, it } from 'vitest';

import { objectChunks } from '../../src/store/cycleChunks.js';

const log = (counts: number[]) => ({
  objectsOfCycle: () => Promise.resolve(counts.map((events, i) => ({ guid: `g${i}`, events }))),
});

describe('objectChunks', () => {
  it.each([
    ['by objects', [1, 1, 1, 1, 1], { objects: 2, events: 100 }, [['g0', 'g1'], ['g2', 'g3'], ['g4']]],
    ['by events', [3, 3, 3], { objects: 10, events: 6 }, [['g0', 'g1'], ['g2']]],
    ['a big object alone', [1, 50, 1], { objects: 10, events: 6 }, [['g0'], ['g1'], ['g2']]],
    ['nothing', [], { objects: 10, events: 6 }, []],
  ])('%s', async (_name, counts, limits, expected) => {
    const chunks: string[][] = [];
    for await (const chunk of objectChunks(log(counts), 1, limits)) chunks.push(chunk);
    expect(chunks).toEqual(expected);
  });
});
