/**
 * Deterministic synthetic retinal fundus images with vessel masks, so that training, evaluation and
 * the tests run offline without FIVES (paper §4.1 stand-in; SPEC §4 pipeline input).
 *
 * One image, [3, H, W] RGB in [0, 1] (CHW) + mask [H, W] (1 = vessel):
 * - circular field of view (radius ~0.45 min(H, W)), near-black outside, soft 1.5 px rim;
 * - reddish-orange background with radial illumination falloff, a linear gradient and a few
 *   low-frequency Gaussian blotches (uneven illumination);
 * - optic disc: bright yellowish ellipse with a smooth edge, left or right of centre;
 * - 3..4 vessel trees growing from the optic disc: each branch is a random walk (per-step curvature
 *   + jitter) drawn as tapered capsules; at each branch point it splits in two asymmetric children
 *   (thicker child deviates less, widths shrink by 0.5..0.9), from ~min(H, W)/55 px at the root down
 *   to 1 px, stopping when a branch leaves the field or gets thinner than 1 px;
 * - vessels darken the background (green most, red least: darker red), contrast varies per tree;
 * - additive Gaussian (per channel) and multiplicative speckle (per pixel) noise.
 *
 * Drawing is anti-aliased: per pixel coverage = clamp(r - d + 0.5, 0, 1) with d the distance of the
 * pixel centre to the capsule axis and r the interpolated radius (max over capsules); the mask is
 * coverage >= 0.5 inside the field. A width-1 branch therefore stays 8-connected at any angle, and
 * all trees start at the disc centre, so the vessel mask is (nearly) one connected component.
 *
 * Randomness: one mulberry32 stream seeded with mixSeed(seed) for the geometry, two more for the pixel
 * noise (a table of normals and its indices), all consumed in a fixed order: the same seed gives
 * identical bytes. Cost ~6 ms for 256x256 once warm (one pass per pixel, capsules touch only their box).
 *
 * The numbers above are {@link FUNDUS_STYLE}, the default. A {@link FundusStyle} changes the statistics
 * (vessel widths, tortuosity, branching, tree count, contrast, colours, noise) and can add lesions
 * (bright exudate-like and dark haemorrhage-like spots, drawn after the trees so the default style's
 * random stream and bytes are unchanged). {@link SECOND_STYLE} is the study's second source
 * (src/data/syntheticFives.ts).
 */
import { mulberry32, normalSampler } from '../model/rng.js';
import { checkSeed, checkSize, mixSeed, type SegSample } from './sample.js';

/** A [min, max] range drawn uniformly. */
export type Range = readonly [number, number];

/** The statistics of one generator (see the file comment; every range is drawn per image or per branch). */
export interface FundusStyle {
  /** Field-of-view radius as a fraction of min(H, W). */
  fovRadius: Range;
  /** Background RGB base colour ranges. */
  background: readonly [Range, Range, Range];
  /** Radial illumination falloff. */
  falloff: Range;
  /** Root vessel width = min(H, W) / rootDiv x U(rootJitter). */
  rootDiv: number;
  rootJitter: Range;
  /** Walk step = max(1.5, min(H, W) / stepDiv) px. */
  stepDiv: number;
  /** Per-branch constant curvature std and per-step angle jitter std (radians). */
  curvature: number;
  jitter: number;
  /** Width factor per step (taper). */
  taper: number;
  /** Width ratios of the thick and thin child at a split, and their deviation angles. */
  childWidth: readonly [Range, Range];
  childAngle: readonly [Range, Range];
  /** Segment length before a split: R x (U(segment) x sqrt(w / root) + segmentBase). */
  segment: Range;
  segmentBase: number;
  /** Vessel trees: count in [trees[0], trees[1]] (uniform integer). */
  trees: readonly [number, number];
  /** Per-tree vessel contrast. */
  contrast: Range;
  /** Relative darkening of R, G, B under a vessel. */
  vesselTint: readonly [number, number, number];
  /** Additive Gaussian noise std and multiplicative speckle std. */
  noise: Range;
  speckle: Range;
  /** Lesions: count in [lesions[0], lesions[1]] (0, 0: none). */
  lesions: readonly [number, number];
}

/** The default generator (the numbers of the file comment). */
export const FUNDUS_STYLE: FundusStyle = {
  fovRadius: [0.43, 0.47],
  background: [[0.72, 0.88], [0.3, 0.42], [0.1, 0.2]],
  falloff: [0.3, 0.55],
  rootDiv: 55,
  rootJitter: [0.9, 1.15],
  stepDiv: 170,
  curvature: 0.02,
  jitter: 0.05,
  taper: 0.996,
  childWidth: [[0.72, 0.9], [0.5, 0.78]],
  childAngle: [[0.15, 0.45], [0.4, 0.9]],
  segment: [0.16, 0.3],
  segmentBase: 0.06,
  trees: [3, 4],
  contrast: [0.75, 1],
  vesselTint: [0.38, 0.6, 0.55],
  noise: [0.008, 0.025],
  speckle: [0.015, 0.05],
  lesions: [0, 0],
};

/**
 * The study's second source: thinner, more tortuous, more numerous and fainter vessels that branch at
 * wider angles, a darker and browner background, more noise, and exudate / haemorrhage spots.
 */
export const SECOND_STYLE: FundusStyle = {
  fovRadius: [0.4, 0.44],
  background: [[0.55, 0.72], [0.22, 0.34], [0.05, 0.13]],
  falloff: [0.4, 0.7],
  rootDiv: 80,
  rootJitter: [0.85, 1.2],
  stepDiv: 200,
  curvature: 0.045,
  jitter: 0.09,
  taper: 0.993,
  childWidth: [[0.7, 0.92], [0.45, 0.75]],
  childAngle: [[0.3, 0.7], [0.6, 1.2]],
  segment: [0.13, 0.26],
  segmentBase: 0.06,
  trees: [4, 6],
  contrast: [0.45, 0.8],
  vesselTint: [0.3, 0.65, 0.5],
  noise: [0.02, 0.045],
  speckle: [0.03, 0.07],
  lesions: [3, 10],
};

/** Output of {@link syntheticFundus}: a {@link SegSample} (image [3, H, W], mask [H, W]). */
export type SyntheticSample = SegSample;

interface Painter {
  cov: Float32Array; // anti-aliased vessel coverage [H, W]
  dark: Float32Array; // coverage x tree contrast [H, W]
  H: number;
  W: number;
}

/** Max-composites one tapered capsule (radii r0 at (x0,y0) to r1 at (x1,y1)) into the painter. */
function capsule(p: Painter, x0: number, y0: number, x1: number, y1: number, r0: number, r1: number, contrast: number): void {
  const rm = Math.max(r0, r1) + 1;
  const ia = Math.max(0, Math.floor(Math.min(y0, y1) - rm)), ib = Math.min(p.H - 1, Math.ceil(Math.max(y0, y1) + rm));
  const ja = Math.max(0, Math.floor(Math.min(x0, x1) - rm)), jb = Math.min(p.W - 1, Math.ceil(Math.max(x0, x1) + rm));
  const dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  for (let i = ia; i <= ib; i++) {
    const py = i + 0.5;
    for (let j = ja; j <= jb; j++) {
      const px = j + 0.5;
      let t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const ex = px - (x0 + t * dx), ey = py - (y0 + t * dy);
      const c = r0 + (r1 - r0) * t - Math.sqrt(ex * ex + ey * ey) + 0.5;
      if (c <= 0) continue;
      const cv = c > 1 ? 1 : c;
      const k = i * p.W + j;
      if (cv > p.cov[k]!) p.cov[k] = cv;
      const dv = cv * contrast;
      if (dv > p.dark[k]!) p.dark[k] = dv;
    }
  }
}

/**
 * Lesion spots of a style (drawn after the trees): bright yellowish exudates and dark red haemorrhages,
 * discs with a soft 1.5 px edge inside the field and away from the optic disc. Returns a per-pixel
 * blend weight [H, W] and target colour [3, H, W].
 */
function paintLesions(u: () => number, count: readonly [number, number], H: number, W: number, cx: number, cy: number, R: number, odx: number, ody: number, odR: number): { alpha: Float32Array; colour: Float32Array } {
  const uni = (a: number, b: number): number => a + (b - a) * u();
  const n = count[0] + Math.floor(u() * (count[1] - count[0] + 1));
  const alpha = new Float32Array(H * W), colour = new Float32Array(3 * H * W);
  for (let l = 0; l < n; l++) {
    const a = uni(0, 2 * Math.PI), rr = Math.sqrt(u()) * R * 0.85;
    const x = cx + rr * Math.cos(a), y = cy + rr * Math.sin(a);
    const r = R * uni(0.012, 0.04);
    const bright = u() < 0.5;
    const col = bright ? [uni(0.9, 1), uni(0.75, 0.9), uni(0.3, 0.5)] : [uni(0.3, 0.45), uni(0.04, 0.1), uni(0.02, 0.06)];
    const strength = uni(0.5, 0.9);
    if ((x - odx) ** 2 + (y - ody) ** 2 < (2 * odR + r) ** 2) continue;
    for (let i = Math.max(0, Math.floor(y - r - 2)); i <= Math.min(H - 1, Math.ceil(y + r + 2)); i++)
      for (let j = Math.max(0, Math.floor(x - r - 2)); j <= Math.min(W - 1, Math.ceil(x + r + 2)); j++) {
        const d = Math.sqrt((j + 0.5 - x) ** 2 + (i + 0.5 - y) ** 2);
        let c = (r - d) / 1.5 + 0.5;
        c = (c < 0 ? 0 : c > 1 ? 1 : c) * strength;
        const k = i * W + j;
        if (c <= alpha[k]!) continue;
        alpha[k] = c;
        for (let ch = 0; ch < 3; ch++) colour[ch * H * W + k] = col[ch]!;
      }
  }
  return { alpha, colour };
}

/**
 * Generates one synthetic fundus image and its vessel mask.
 * @param seed non-negative safe integer; the same seed and size give identical bytes
 * @param size [H, W], each in [16, 65536]
 * @param style the generator's statistics (default {@link FUNDUS_STYLE})
 * @returns `{image: Float32Array [3, H, W] in [0, 1], mask: Uint8Array [H, W] (1 = vessel), height, width}`
 * @throws RangeError / TypeError for a bad seed or size
 * @example
 * const { image, mask } = syntheticFundus(7, [256, 256]);
 */
export function syntheticFundus(seed: number, size: readonly [number, number], style: FundusStyle = FUNDUS_STYLE): SyntheticSample {
  const op = 'syntheticFundus';
  checkSeed(op, seed);
  const [H, W] = checkSize(op, size, 16);
  const u = mulberry32(mixSeed(seed, 0x5eed));
  const nrm = normalSampler(u);
  const S = Math.min(H, W);
  const uni = (a: number, b: number): number => a + (b - a) * u();
  const pick = (r: Range): number => uni(r[0], r[1]);
  const st = style;

  // Field of view and background.
  const cx = W / 2 + uni(-0.02, 0.02) * S, cy = H / 2 + uni(-0.02, 0.02) * S;
  const R = S * pick(st.fovRadius);
  const base = st.background.map(pick);
  const falloff = pick(st.falloff);
  const gAng = uni(0, 2 * Math.PI), gAmp = uni(0, 0.15);
  const blobs: number[][] = [];
  const nBlobs = 3 + Math.floor(u() * 3);
  for (let b = 0; b < nBlobs; b++) {
    const a = uni(0, 2 * Math.PI), rr = Math.sqrt(u()) * R;
    blobs.push([cx + rr * Math.cos(a), cy + rr * Math.sin(a), uni(0.15, 0.4) * R, uni(-0.1, 0.1)]);
  }

  // Optic disc: on the nasal side, i.e. left or right of centre.
  const side = u() < 0.5 ? -1 : 1;
  const odx = cx + side * R * uni(0.28, 0.42), ody = cy + R * uni(-0.08, 0.08);
  const odRx = R * uni(0.08, 0.11), odRy = odRx * uni(1.02, 1.2);
  const odCol = [uni(0.92, 1), uni(0.8, 0.9), uni(0.45, 0.6)];

  // Vessel trees.
  const p: Painter = { cov: new Float32Array(H * W), dark: new Float32Array(H * W), H, W };
  const rootW = (S / st.rootDiv) * pick(st.rootJitter);
  const step = Math.max(1.5, S / st.stepDiv);
  const inField = (x: number, y: number, margin: number): boolean => (x - cx) ** 2 + (y - cy) ** 2 < (R - margin) ** 2;
  const grow = (x: number, y: number, ang: number, w: number, depth: number, contrast: number): void => {
    // Length before the next split, longer for thick vessels (main arcades span much of the field).
    const segLen = R * (pick(st.segment) * Math.sqrt(w / rootW) + st.segmentBase);
    const curv = nrm() * st.curvature;
    const nSteps = Math.max(2, Math.round(segLen / step));
    for (let s = 0; s < nSteps; s++) {
      ang += curv + nrm() * st.jitter;
      const nx = x + Math.cos(ang) * step, ny = y + Math.sin(ang) * step;
      const nw = Math.max(1, w * st.taper);
      if (!inField(nx, ny, 1)) return;
      capsule(p, x, y, nx, ny, w / 2, nw / 2, contrast);
      x = nx;
      y = ny;
      w = nw;
    }
    if (w < 1.05 || depth >= 9) return;
    const f1 = pick(st.childWidth[0]), f2 = pick(st.childWidth[1]);
    const a1 = pick(st.childAngle[0]), a2 = pick(st.childAngle[1]);
    const turn = u() < 0.5 ? 1 : -1;
    grow(x, y, ang + turn * a1, Math.max(1, w * f1), depth + 1, contrast);
    grow(x, y, ang - turn * a2, Math.max(1, w * f2), depth + 1, contrast);
  };
  const nTrees = st.trees[0] + Math.floor(u() * (st.trees[1] - st.trees[0] + 1));
  const toCentre = Math.atan2(cy - ody, cx - odx);
  for (let t = 0; t < nTrees; t++) {
    const ang = toCentre + Math.PI / nTrees + (2 * Math.PI * t) / nTrees + uni(-0.3, 0.3);
    grow(odx, ody, ang, rootW * uni(0.8, 1), 0, pick(st.contrast));
  }

  // Compose. Blobs are separable Gaussians: per-blob row and column factors, multiplied per pixel.
  const image = new Float32Array(3 * H * W);
  const mask = new Uint8Array(H * W);
  const vf = st.vesselTint; // relative darkening per channel: vessels stay red, lose green/blue
  const gauss = pick(st.noise), speckle = pick(st.speckle);
  const lesion = st.lesions[1] > 0 ? paintLesions(u, st.lesions, H, W, cx, cy, R, odx, ody, odRx) : null;
  const bRow = blobs.map(([, by, bs]) => Float64Array.from({ length: H }, (_, i) => Math.exp(-((i + 0.5 - by!) ** 2) / (2 * bs! * bs!))));
  const bCol = blobs.map(([bx, , bs, ba]) => Float64Array.from({ length: W }, (_, j) => ba! * Math.exp(-((j + 0.5 - bx!) ** 2) / (2 * bs! * bs!))));
  // Pixel noise: normals from a 4096-entry table of Box-Muller samples indexed by a second mulberry32
  // stream (one 32-bit draw per normal; far cheaper than Box-Muller per pixel, plenty for noise).
  const tabRng = normalSampler(mulberry32(mixSeed(seed, 0x7ab1e)));
  const table = Float32Array.from({ length: 4096 }, () => tabRng());
  let ns = mixSeed(seed, 0x401e);
  const n2 = (): number => {
    ns = (ns + 0x6d2b79f5) >>> 0;
    let t = ns;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return table[((t ^ (t >>> 14)) >>> 20) & 4095]!;
  };
  const gc = Math.cos(gAng) / R, gs = Math.sin(gAng) / R;
  const HW = H * W;
  const col = new Float64Array(3);
  for (let i = 0; i < H; i++) {
    const py = i + 0.5, dy = py - cy;
    for (let j = 0; j < W; j++) {
      const px = j + 0.5, dx = px - cx;
      const k = i * W + j;
      const r = Math.sqrt(dx * dx + dy * dy);
      let fov = (R - r) / 1.5 + 0.5;
      fov = fov < 0 ? 0 : fov > 1 ? 1 : fov;
      let illum = (1 - falloff * (r / R) ** 2) * (1 + gAmp * (dx * gc + dy * gs));
      for (let b = 0; b < bRow.length; b++) illum += bRow[b]![i]! * bCol[b]![j]!;
      const ex = (px - odx) / odRx, ey = (py - ody) / odRy;
      let od = (1.15 - Math.sqrt(ex * ex + ey * ey)) / 0.3;
      od = od < 0 ? 0 : od > 1 ? 1 : od;
      const dk = p.dark[k]!;
      const sp = 1 + speckle * fov * n2();
      for (let c = 0; c < 3; c++) {
        let v = base[c]! * illum;
        v = v + (odCol[c]! - v) * od;
        if (lesion !== null && lesion.alpha[k]! > 0) v += (lesion.colour[c * HW + k]! - v) * lesion.alpha[k]!;
        v *= 1 - dk * vf[c]!;
        v = v * fov + 0.015 * (1 - fov);
        col[c] = v * sp + gauss * n2();
      }
      for (let c = 0; c < 3; c++) {
        const v = col[c]!;
        image[c * HW + k] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
      mask[k] = p.cov[k]! >= 0.5 && r < R ? 1 : 0;
    }
  }
  return { image, mask, height: H, width: W };
}

/**
 * `n` synthetic samples; sample i uses seed mixSeed(seed, i), so it does not depend on `n`.
 * @param n number of samples (>= 0)
 * @param seed non-negative safe integer
 * @param size [H, W]
 * @param style generator statistics (default {@link FUNDUS_STYLE})
 * @returns an array of {@link syntheticFundus} outputs
 */
export function syntheticDataset(n: number, seed: number, size: readonly [number, number], style: FundusStyle = FUNDUS_STYLE): SyntheticSample[] {
  return [...syntheticSamples(n, seed, size, style)];
}

/** Lazy version of {@link syntheticDataset}: generates each sample when iterated. */
export function* syntheticSamples(n: number, seed: number, size: readonly [number, number], style: FundusStyle = FUNDUS_STYLE): Generator<SyntheticSample> {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
    throw new RangeError(`syntheticDataset: expected n to be a non-negative integer, received ${String(n)}`);
  checkSeed('syntheticDataset', seed);
  for (let i = 0; i < n; i++) yield syntheticFundus(mixSeed(seed, i), size, style);
}
