/** @type {import('aegir').PartialOptions} */
export default {
  build: {
    bundle: false,
    config: {
      platform: 'node'
    }
  },
  test: {
    target: ['node'],
    // run every test so the counts in .ci/run are complete
    bail: false
  },
  dependencyCheck: {
    // the demo and the benchmarks are development code
    productionIgnorePatterns: [
      '/benchmark',
      '/benchmarks',
      '/demo',
      '/dist',
      '/test',
      '.aegir.js'
    ],
    ignore: [
      // run on Node 22 for npm scripts; not imported
      'node'
    ]
  }
}
