// `aecp verify <bundle> --pub <public.pem>...`: exit 0 only when the bundle's
// digest and signature verify against a trusted key and its module loads.

import { LoadedBundle, TrustedKeys } from "../../bundle/index.js";
import { AecpError, isAecpError } from "../../common/index.js";
import { displayPath, readBytes, readText, EXIT_FAIL, EXIT_OK } from "../io.js";

export function trustedFrom(pubs: readonly string[]): TrustedKeys {
  return TrustedKeys.fromPems(pubs.map((p) => readText(p)));
}

export function verifyCommand(bundlePath: string, opts: { pub: string[] }): number {
  if (opts.pub.length === 0) throw new AecpError("AECP_USAGE", "verify needs at least one --pub <public.pem>");
  const trustedKeys = trustedFrom(opts.pub);
  try {
    const b = LoadedBundle.load(readBytes(bundlePath), { trustedKeys });
    process.stdout.write(
      `ok: ${displayPath(bundlePath)} bundle \`${b.name}\` ${b.ref.digest} signed by ${b.ref.keyId}; ${b.policies.length} policies, ABI ${b.abiVersion}\n`,
    );
    return EXIT_OK;
  } catch (e) {
    if (!isAecpError(e) || e.code === "AECP_IO") throw e;
    process.stderr.write(`invalid: ${displayPath(bundlePath)}: error[${e.code}]: ${e.message}\n`);
    return EXIT_FAIL;
  }
}
