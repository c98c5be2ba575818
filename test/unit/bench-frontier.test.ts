/** bench/scheduling/frontier.ts: SlackFit against the static runs of the same trace (hand-worked cases). */
import { describe, expect, it } from 'vitest';
import { compareWithStatics } from '../../bench/scheduling/frontier.js';

describe('compareWithStatics', () => {
  const statics = [
    { policy: 'static:a', attainment: 100, accuracy: 90.47 },
    { policy: 'static:b', attainment: 58, accuracy: 91.06 },
    { policy: 'static:c', attainment: 49, accuracy: 91.55 },
    { policy: 'static:d', attainment: 43, accuracy: 92.08 },
  ];

  it('finds the closest static and interpolates the frontier between the two that bracket SlackFit', () => {
    const c = compareWithStatics([{ policy: 'slackfit', attainment: 98, accuracy: 91.4 }, ...statics]);
    expect(c?.closest?.policy).toBe('static:c'); // |91.55 - 91.4| = 0.15 < |91.06 - 91.4| = 0.34
    expect(c?.closest_ratio).toBe(2); // 98 / 49
    // between b (91.06, 58) and c (91.55, 49): 58 + (0.34 / 0.49) x (-9) = 51.755...
    expect(c?.frontier_attainment).toBe(51.76);
    expect(c?.frontier_ratio).toBe(1.89); // 98 / 51.755
  });

  it('does not extrapolate past the statics, and needs a SlackFit run with an accuracy', () => {
    const above = compareWithStatics([{ policy: 'slackfit', attainment: 90, accuracy: 93 }, ...statics]);
    expect(above?.closest?.policy).toBe('static:d');
    expect(above?.frontier_attainment).toBeNull();
    expect(above?.frontier_ratio).toBeNull();
    expect(compareWithStatics(statics)).toBeNull();
    expect(compareWithStatics([{ policy: 'slackfit', attainment: 0, accuracy: null }, ...statics])).toBeNull();
    // a static that served nothing within the SLO has no accuracy and is never the closest
    const none = compareWithStatics([{ policy: 'slackfit', attainment: 80, accuracy: 90.5 }, { policy: 'static:z', attainment: 0, accuracy: null }, statics[0] as (typeof statics)[number]]);
    expect(none?.closest?.policy).toBe('static:a');
    expect(none?.closest_ratio).toBe(0.8);
  });
});
