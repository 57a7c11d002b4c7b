// onnxruntime-node for the scripts of this folder, or exit 2 saying how to
// install it (npm ci --ignore-scripts; the version is pinned in package-lock.json).
'use strict';
const path = require('path');

try {
  module.exports = require('onnxruntime-node');
} catch (e) {
  console.error('onnxruntime-node is not installed: run `npm ci --ignore-scripts` in ' +
                path.resolve(__dirname, '../..') + ' (scripts/install-deps.sh does it)');
  process.exit(2);
}
