/** The micro study of the tests: a model of 16 tokens, one seed, two arms of 6 steps, pieces of 2 steps, issue 17's systems on one arm. */
export const MICRO_STUDY = {
  name: 'micro',
  seeds: [0],
  model: { preset: 'tiny', D: 16, H: 2, L: 8, patch: 8, image: [32, 32], R: 2, Q: 3, Bq: 2, stageBlocks: [1, 3, 5] },
  pretrain: { samples: 8, steps: 4, warmup: [1, 1], runs: 2 }, // two pieces, whatever the default split
  second: { images: 10, size: [64, 64] },
  finetune: {
    samples: 8, steps: 6, warmup: [1, 1],
    arms: [
      { name: 'unpruned', label: 'Not pruned', routing: 'none', policy: 'none', prune: false },
      { name: 'random-ratio', label: 'Pruned L_ratio, Reg4Pru', routing: 'random', policy: 'ratio', prune: true },
    ],
  },
  eval: { samples: 4, tokenImages: 2, keeps: [0.9, 0.5], tomeRatios: [0.5] },
  bench: { warmup: 0, iters: 1 },
  others: { arm: 'random-ratio', superpatch: { steps: 2, samples: 4, width: 4 }, exits: { blocks: [2, 5], steps: 2, samples: 2 } },
  chunkSteps: 2,
};
