#!/usr/bin/env node
// Runs exported ONNX models in ONNX Runtime (npm onnxruntime-node) on IDX
// images and compares them with factorize-nas's own outputs (`predict`):
//   fp32 ONNX logits vs LibTorch's logits: max |difference| <= 1e-4;
//   exact ONNX (--exact, `export --format onnx-exact`): uint8 logits equal to
//   our integer path's on every image, bit for bit;
//   QOperator ONNX (QLinearConv): top-1 agreement >= TOP1 % (--top1), uint8
//   logits within 1 step of ours on >= WITHIN1 % of the elements (--within1),
//   accuracy on the labels within ACC points of ours (--accuracy); ONNX Runtime
//   requantizes with one float rounding, TFLite and our path round twice, and
//   the difference drifts through the convs (docs/deploy.md). With --layers
//   and --manifest (our integer model's manifest.json): in the first conv,
//   whose input codes are identical, every differing value must be the
//   double-rounding case: one step, ours farther from the zero point.
// Prints the figures; exits 1 when a threshold is missed, 2 on bad input.
// With --layers, also compares every layer's uint8 output: LAYERS.onnx is the
// QOperator model exported with --layer-outputs, TRACEDIR the per-layer outputs
// of our integer path (scripts/run_integer_model.py --trace) on the same images;
// when the exact model has layer outputs too, each of them must equal ours.
//
// usage: check_onnx_runtime.js QUINT8.onnx FP32.onnx IMAGES.idx[.gz] N
//                              OUR_CODES.csv OUR_FP32.csv [LABELS.idx[.gz]]
//                              [--exact EXACT.onnx] [--top1 PERCENT] [--within1 PERCENT]
//                              [--accuracy POINTS] [--layers LAYERS.onnx TRACEDIR]
//                              [--manifest MANIFEST.json]
// The QOperator defaults (top-1 95 %, within 1 step 99 %, accuracy 2 points)
// are the test's; docs/deploy.md gives the figures of other nets.
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const path = require('path');

const ort = require('./ort');

function readIdx(file, limit) {
  let b = fs.readFileSync(file);
  if (b[0] === 0x1f && b[1] === 0x8b) b = zlib.gunzipSync(b);
  const magic = b.readUInt32BE(0);
  const dims = [];
  for (let i = 0; i < (magic & 0xff); ++i) dims.push(b.readUInt32BE(4 + 4 * i));
  const n = Math.min(dims[0], limit);
  const per = dims.slice(1).reduce((a, d) => a * d, 1);
  const offset = 4 + 4 * dims.length;
  return {n, dims: [n, ...dims.slice(1)], data: b.subarray(offset, offset + n * per)};
}

// The prefix_* columns of a CSV from `predict --format csv`, row by row.
function readColumns(file, prefix) {
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  const header = lines[0].split(',');
  const idx = header.map((h, i) => (h.startsWith(prefix) ? i : -1)).filter((i) => i >= 0);
  if (idx.length === 0) throw new Error(file + ': no ' + prefix + '* columns');
  return lines.slice(1).map((l) => {
    const cells = l.split(',');
    return idx.map((i) => Number(cells[i]));
  });
}

function argmax(row) {
  let best = 0;
  for (let i = 1; i < row.length; ++i) if (row[i] > row[best]) best = i;
  return best;
}

async function run(file, pixels) {
  const session = await ort.InferenceSession.create(file, {intraOpNumThreads: 1});
  const result = await session.run({pixels});
  return result;
}

// Per layer: how many uint8 values `file` (run in ORT) and our integer path
// share, and how many are within 1 step. Returns {rows: [name, equal share],
// outputs: ORT's tensors, ours: our tensors}.
async function compareLayers(title, file, pixels, traceDir) {
  const session = await ort.InferenceSession.create(file, {intraOpNumThreads: 1});
  const result = await session.run({pixels});
  console.log(title + ' per layer (uint8 outputs, ORT vs our integer path):');
  const rows = [], outputs = {}, oursByName = {};
  for (const name of session.outputNames) {
    if (name.startsWith('logits')) continue;
    const ours = fs.readFileSync(path.join(traceDir, name.replace(/(_uint8|_out)$/, '') + '.u8'));
    const theirs = result[name].data;
    if (ours.length !== theirs.length) throw new Error(name + ': sizes differ');
    let equal = 0, within1 = 0, max = 0;
    for (let i = 0; i < theirs.length; ++i) {
      const d = Math.abs(theirs[i] - ours[i]);
      equal += d === 0;
      within1 += d <= 1;
      max = Math.max(max, d);
    }
    console.log('  ' + name.padEnd(24) + (100 * equal / theirs.length).toFixed(3).padStart(8) +
                ' % equal, ' + (100 * within1 / theirs.length).toFixed(3).padStart(8) +
                ' % within 1 step, largest difference ' + max);
    rows.push([name, equal / theirs.length]);
    outputs[name] = theirs;
    oursByName[name] = ours;
  }
  return {rows, outputs, ours: oursByName};
}

// The first conv gets identical input codes in both runtimes, so its outputs
// differ only where the two requantizations round the same real value
// differently. TFLite's double rounding (ours) only ever moves a value one step
// farther from the zero point than a single correct rounding, so every
// difference must be one step with ours farther from the zero point. Returns
// the number of differing values and of those that break this rule.
function checkFirstConv(layers, layer) {
  const theirs = layers.outputs[layer.name + '_out'], ours = layers.ours[layer.name + '_out'];
  if (!theirs) throw new Error('no output ' + layer.name + '_out in the per-layer model');
  const zp = layer.output.zero_point;
  let differing = 0, broken = 0;
  for (let i = 0; i < theirs.length; ++i) {
    if (theirs[i] === ours[i]) continue;
    ++differing;
    if (Math.abs(theirs[i] - ours[i]) !== 1 || Math.abs(ours[i] - zp) <= Math.abs(theirs[i] - zp)) {
      ++broken;
    }
  }
  console.log(layer.name + ' (first conv, identical inputs): ' + differing + ' of ' + theirs.length +
              ' values differ, ' + (differing - broken) +
              ' of them one step with ours farther from the zero point ' + zp +
              ' (double rounding)');
  return {differing, broken};
}

async function main() {
  const argv = process.argv.slice(2);
  const layersAt = argv.indexOf('--layers');
  const layers = layersAt >= 0 ? argv.splice(layersAt, 3).slice(1) : null;
  const exactAt = argv.indexOf('--exact');
  const exactFile = exactAt >= 0 ? argv.splice(exactAt, 2)[1] : null;
  const top1At = argv.indexOf('--top1');
  const top1Bar = top1At >= 0 ? Number(argv.splice(top1At, 2)[1]) : 95;
  const within1At = argv.indexOf('--within1');
  const within1Bar = within1At >= 0 ? Number(argv.splice(within1At, 2)[1]) : 99;
  const accuracyAt = argv.indexOf('--accuracy');
  const accuracyBar = accuracyAt >= 0 ? Number(argv.splice(accuracyAt, 2)[1]) : 2;
  const manifestAt = argv.indexOf('--manifest');
  const manifest = manifestAt >= 0 ?
      JSON.parse(fs.readFileSync(argv.splice(manifestAt, 2)[1], 'utf8')) : null;
  const [q8, fp32, images, count, codesCsv, fp32Csv, labelsFile] = argv;
  if (!fp32Csv) {
    console.error('usage: check_onnx_runtime.js QUINT8.onnx FP32.onnx IMAGES N CODES.csv ' +
                  'FP32.csv [LABELS]');
    process.exit(2);
  }
  const idx = readIdx(images, Number(count));
  const n = idx.n;
  const dims = idx.dims.length === 3 ? [n, 1, idx.dims[1], idx.dims[2]] : idx.dims;
  const pixels = new ort.Tensor('float32', Float32Array.from(idx.data), dims);
  const ours = {codes: readColumns(codesCsv, 'code_'), fp32: readColumns(fp32Csv, 'logit_')};
  if (ours.codes.length !== n || ours.fp32.length !== n) {
    throw new Error('expected ' + n + ' rows in ' + codesCsv + ' and ' + fp32Csv);
  }
  const labels = labelsFile ? readIdx(labelsFile, n).data : null;
  const classes = ours.codes[0].length;

  const f = (await run(fp32, pixels)).logits.data;
  let maxDiff = 0;
  let fpAgree = 0;
  for (let i = 0; i < n; ++i) {
    const row = Array.from(f.subarray(i * classes, (i + 1) * classes));
    for (let c = 0; c < classes; ++c) maxDiff = Math.max(maxDiff, Math.abs(row[c] - ours.fp32[i][c]));
    fpAgree += argmax(row) === argmax(ours.fp32[i]);
  }

  const q = await run(q8, pixels);
  const codes = q.logits_uint8.data;
  let top1 = 0, exact = 0, within1 = 0, maxStep = 0, accOrt = 0, accOurs = 0;
  for (let i = 0; i < n; ++i) {
    const row = Array.from(codes.subarray(i * classes, (i + 1) * classes));
    const a = argmax(row), b = argmax(ours.codes[i]);
    top1 += a === b;
    if (labels) {
      accOrt += a === labels[i];
      accOurs += b === labels[i];
    }
    for (let c = 0; c < classes; ++c) {
      const d = Math.abs(row[c] - ours.codes[i][c]);
      exact += d === 0;
      within1 += d <= 1;
      maxStep = Math.max(maxStep, d);
    }
  }
  const elements = n * classes;
  const pct = (x, of) => (100 * x / of).toFixed(2) + ' %';
  console.log('ONNX Runtime ' + ort.env.versions.node + ' on ' + n + ' images of ' + images);
  console.log('fp32:   max |ORT - LibTorch| logit difference ' + maxDiff.toExponential(3) +
              ', top-1 agreement ' + pct(fpAgree, n));
  console.log('quint8: top-1 agreement with our integer path ' + pct(top1, n) +
              '; uint8 logits equal ' + pct(exact, elements) + ', within 1 step ' +
              pct(within1, elements) + ', largest difference ' + maxStep + ' steps');
  if (labels) {
    console.log('quint8 accuracy: ONNX Runtime ' + pct(accOrt, n) + ', our integer path ' +
                pct(accOurs, n));
  }
  const failures = [];
  if (layers) {
    const q = await compareLayers('QOperator', layers[0], pixels, layers[1]);
    if (manifest) {
      const first = manifest.layers.find((l) => l.kind === 'conv');
      if (checkFirstConv(q, first).broken > 0) {
        failures.push(first.name + ': a difference that is not double rounding');
      }
    }
  }
  if (exactFile) {
    const e = (await run(exactFile, pixels)).logits_uint8.data;
    let same = 0, sameTop1 = 0;
    for (let i = 0; i < n; ++i) {
      const row = Array.from(e.subarray(i * classes, (i + 1) * classes));
      let all = true;
      for (let c = 0; c < classes; ++c) all = all && row[c] === ours.codes[i][c];
      same += all;
      sameTop1 += argmax(row) === argmax(ours.codes[i]);
    }
    console.log('exact:  uint8 logits equal to our integer path on ' + same + ' of ' + n +
                ' images (' + pct(same, n) + '), top-1 agreement ' + pct(sameTop1, n));
    if (same !== n) failures.push('exact model differs from our integer path on ' + (n - same) + ' images');
    if (layers) {
      const {rows} = await compareLayers('exact', exactFile, pixels, layers[1]);
      for (const [name, share] of rows) {
        if (share !== 1) failures.push('exact model: layer ' + name + ' differs');
      }
    }
  }
  if (!(maxDiff <= 1e-4)) failures.push('fp32 logits differ by more than 1e-4');
  if (top1 < top1Bar / 100 * n) failures.push('quint8 top-1 agreement below ' + top1Bar + ' %');
  if (within1 < within1Bar / 100 * elements) {
    failures.push('fewer than ' + within1Bar + ' % of uint8 logits within 1 step');
  }
  if (labels && Math.abs(accOrt - accOurs) > accuracyBar / 100 * n) {
    failures.push('quint8 accuracy in ONNX Runtime more than ' + accuracyBar + ' points from ours');
  }
  if (failures.length) {
    console.log('FAILED: ' + failures.join('; '));
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(2);
});
