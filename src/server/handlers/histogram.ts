/** `histogram`: status-code counts per job and level, with optional sample node names. */
import { jobsArg, type Handler } from '../apiContext.js';

const MAX_SAMPLES = 10;

export const histogram: Handler = {
  mutating: false,
  run: (args, context) => {
    const samples = Math.min(MAX_SAMPLES, Math.max(0, Number(args['num_samples'] ?? 0) | 0));
    const { byJob } = context.histograms();
    const histograms: Record<string, unknown> = {};
    const sampled: Record<string, unknown> = {};
    for (const job of jobsArg(args, context)) {
      const computed = byJob.get(job);
      if (!computed) continue;
      histograms[job] = computed.counts;
      if (samples > 0) {
        sampled[job] = Object.fromEntries(
          Object.entries(computed.samples).map(([level, codes]) => [
            level,
            Object.fromEntries(Object.entries(codes).map(([code, names]) => [code, names.slice(0, samples)])),
          ]),
        );
      }
    }
    return samples > 0 ? { histograms, samples: sampled } : { histograms };
  },
};
