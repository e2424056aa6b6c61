import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { testEngineEnv } from './engine.ts';
import { ROOT } from './server.ts';

/** How one `openua` command ended. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of the test process, minus anything that would point the CLI somewhere else. */
function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('OPENUA_') || name === 'PORT' || name === 'HOST') delete env[name];
  }
  return env;
}

/**
 * Runs `openua <args>` as a user would, with `env` over a clean environment. `cwd`: where it runs (for `.env`);
 * `as`: run it as another user (`setpriv` arguments before the command), for permissions root ignores.
 */
export async function openua(
  args: string[],
  env: Record<string, string>,
  options: { cwd?: string; as?: string[] } = {},
): Promise<CliRun> {
  const { cwd = ROOT, as = [] } = options;
  // The store the run's engine puts behind this data directory, as the server over it has.
  const flag = args.indexOf('--data-dir');
  const dataDir = env.OPENUA_DATA_DIR ?? (flag >= 0 ? args[flag + 1] : undefined);
  const engineEnv = dataDir ? await testEngineEnv(dataDir) : {};
  const command = [process.execPath, path.join(ROOT, 'bin/openua.js'), ...args];
  return new Promise((resolve) => {
    execFile(
      as.length > 0 ? 'setpriv' : (command[0] as string),
      as.length > 0 ? [...as, ...command] : command.slice(1),
      { cwd, env: { ...baseEnv(), ...engineEnv, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs a command that must succeed and answers its JSON output. */
export async function openuaJson<T = Record<string, unknown>>(
  args: string[],
  env: Record<string, string>,
  options: { cwd?: string } = {},
): Promise<T> {
  const run = await openua(args, env, options);
  assert.equal(run.code, 0, `openua ${args.join(' ')} failed:\n${run.stderr}\n${run.stdout}`);
  return JSON.parse(run.stdout) as T;
}
