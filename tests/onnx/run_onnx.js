#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (npm onnxruntime-node) on one 1-D input
// given on the command line and prints each output as "NAME v1 v2 ...".
// usage: run_onnx.js MODEL.onnx INPUT_NAME TYPE(int32|int64|uint8|float32) V1 V2 ...
// Exits 2 when onnxruntime-node is missing or the model cannot run.
'use strict';
const ort = require('./ort');

async function main() {
  const [file, name, type, ...values] = process.argv.slice(2);
  const arrays = {int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, float32: Float32Array};
  if (!file || !arrays[type]) {
    console.error('usage: run_onnx.js MODEL.onnx INPUT_NAME int32|int64|uint8|float32 V1 V2 ...');
    process.exit(2);
  }
  const data = type === 'int64' ? BigInt64Array.from(values.map(BigInt))
                                : arrays[type].from(values.map(Number));
  const session = await ort.InferenceSession.create(file, {intraOpNumThreads: 1});
  const result = await session.run({[name]: new ort.Tensor(type, data, [values.length])});
  for (const out of session.outputNames) {
    console.log(out + ' ' + Array.from(result[out].data).join(' '));
  }
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(2);
});
