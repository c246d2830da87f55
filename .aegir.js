/** @type {import('aegir').PartialOptions} */
export default {
  build: {
    bundle: false,
    config: {
      platform: 'node'
    }
  },
  test: {
    target: ['node']
  },
  dependencyCheck: {
    ignore: [
      // run on Node 22 for npm scripts; not imported
      'node'
    ]
  }
}
