/**
 * Runs the steps of a setup plan.
 */

import { COMMAND_TIMEOUT_MS, SETUP_CONCURRENCY } from './constants.ts'
import { inNamespace, runChecked } from './run-command.ts'
import type { SetupStep } from './setup-plan.ts'

/**
 * The program, arguments and stdin of one step.
 */
export function stepCommand (step: SetupStep): { argv: string[], input?: string } {
  switch (step.kind) {
    case 'ip-batch':
      return {
        argv: ['ip', ...(step.namespace != null ? ['-n', step.namespace] : []), '-batch', '-'],
        input: step.lines.join('\n') + '\n'
      }
    case 'sysctl':
      return {
        argv: inNamespace(step.namespace, ['sysctl', '-q', ...(step.ifPresent === true ? ['-e'] : []), '-w', ...Object.entries(step.values).map(([key, value]) => `${key}=${value}`)])
      }
    case 'nft':
      return { argv: inNamespace(step.namespace, ['nft', '-f', '-']), input: step.ruleset }
    case 'iptables-restore':
      return { argv: inNamespace(step.namespace, ['iptables-restore']), input: step.rules }
    case 'ip6tables-restore':
      return { argv: inNamespace(step.namespace, ['ip6tables-restore']), input: step.rules }
    default:
      throw new TypeError(`Unknown setup step ${JSON.stringify(step satisfies never)}`)
  }
}

/**
 * Run one step; fail when its program fails.
 */
export async function runStep (step: SetupStep, timeoutMs = COMMAND_TIMEOUT_MS): Promise<void> {
  const { argv, input } = stepCommand(step)
  await runChecked(argv[0], argv.slice(1), { input, timeoutMs })
}

/**
 * Run the phases in order and the steps of each phase concurrently (at most
 * `concurrency` at a time). Stops at the first phase with a failed step and
 * throws that step's error, after the other steps of the phase finished.
 */
export async function runPhases (phases: readonly SetupStep[][], concurrency = SETUP_CONCURRENCY): Promise<void> {
  for (const phase of phases) {
    const errors: unknown[] = []
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < phase.length) {
        const step = phase[next++]
        try {
          await runStep(step)
        } catch (err) {
          errors.push(err)
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, phase.length) }, worker))
    if (errors.length > 0) {
      throw errors[0]
    }
  }
}
