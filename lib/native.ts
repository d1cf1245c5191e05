/**
 * The native module, loaded through the napi-rs generated loader (index.js at
 * the package root). Only the facade imports this file.
 *
 * The generated loader is rewritten by every build, so what it throws when no
 * binary loads is reworded here rather than there: the user learns which
 * platform this is, which ones have a prebuilt binary and how to build one.
 */
import type * as Native from '../index';

interface PackageJson {
  name: string;
  optionalDependencies?: Record<string, string>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg: PackageJson = require('../../package.json');

/** This machine as napi-rs names targets: `platform-arch[-abi]`. */
function machineTarget(): string {
  const { platform, arch } = process;
  if (platform === 'win32') return `${platform}-${arch}-msvc`;
  if (platform !== 'linux') return `${platform}-${arch}`;
  // A glibc Node reports the glibc it runs on; a musl one (Alpine) does not.
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
    ?.header;
  return `${platform}-${arch}-${header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
}

/** The targets published as `<name>-<target>` optional dependencies. */
function supportedTargets(): string[] {
  const prefix = `${pkg.name}-`;
  return Object.keys(pkg.optionalDependencies ?? {})
    .filter((dep) => dep.startsWith(prefix))
    .map((dep) => dep.slice(prefix.length));
}

function loadFailure(cause: unknown): Error {
  const target = machineTarget();
  const supported = supportedTargets();
  const reason = supported.includes(target)
    ? `its binary package ${pkg.name}-${target} is missing or did not load. npm installs it as an optional ` +
      'dependency: reinstall without --omit=optional, and if a package-lock.json made on another platform ' +
      'lacks it, remove node_modules and package-lock.json and run `npm install` again.'
    : 'no prebuilt binary exists for it.';
  const error = new Error(
    `${pkg.name} cannot load its native module on ${process.platform}-${process.arch} ` +
      `(target ${target}, Node ${process.version}): ${reason}\n` +
      `Prebuilt binaries: ${supported.join(', ')}.\n` +
      'To build from source: install Rust (https://rustup.rs), run `npm install` in a clone of the ' +
      `${pkg.name} repository (it builds the module), then install that folder (\`npm install /path/to/clone\`) ` +
      'or set NAPI_RS_NATIVE_LIBRARY_PATH to the .node file it built.',
  );
  (error as Error & { cause?: unknown }).cause = cause;
  return error;
}

function load(): typeof Native {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('../../index.js');
  } catch (err) {
    throw loadFailure(err);
  }
}

export const binding: typeof Native = load();
export type { Native };
