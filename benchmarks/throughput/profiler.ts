/**
 * In-process CPU profiling with the inspector protocol, so a profile covers
 * only the measured transfer (not module loading, type stripping or setup,
 * which dominate a whole-process `--cpu-prof` of a short run)
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'

export interface RunningProfile {
  /** stop profiling and write the .cpuprofile file */
  stop(): Promise<void>
}

export async function startProfile (file: string, samplingIntervalMicros = 200): Promise<RunningProfile> {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: samplingIntervalMicros })
  await session.post('Profiler.start')

  return {
    async stop () {
      const { profile } = await session.post('Profiler.stop')
      writeFileSync(file, JSON.stringify(profile))
      await session.post('Profiler.disable')
      session.disconnect()
    }
  }
}
