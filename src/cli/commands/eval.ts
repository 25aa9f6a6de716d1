// `aecp eval <bundle> --input <request.json|-> [--pub <public.pem>]... [--waiver <name>]...`
// Prints one decision as JSON on stdout.

import { LoadedBundle, type Decision } from "../../bundle/index.js";
import { AecpError } from "../../common/index.js";
import { attributesFromCheckRequestJson } from "../../executive/index.js";
import { readBytes, readStdinText, readText, EXIT_OK } from "../io.js";
import { trustedFrom } from "./verify.js";

export function decisionJson(d: Decision, verified: boolean): Record<string, unknown> {
  return {
    effect: d.effect,
    violations: d.violations,
    waived: d.waived,
    defaulted: d.defaulted,
    bundle: { ...d.bundle, verified },
    eval_ns: d.evalNs,
  };
}

export async function evalCommand(bundlePath: string, opts: { input: string; pub: string[]; waiver: string[] }): Promise<number> {
  const verified = opts.pub.length > 0;
  const bundle = LoadedBundle.load(readBytes(bundlePath), verified ? { trustedKeys: trustedFrom(opts.pub) } : { skipVerification: true });
  if (!verified) process.stderr.write("warning: no --pub given; the bundle signature was NOT verified\n");
  const text = opts.input === "-" ? await readStdinText() : readText(opts.input);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new AecpError("AECP_REQUEST_MALFORMED", `input is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const attrs = attributesFromCheckRequestJson(json);
  const d = bundle.evaluate(attrs, opts.waiver);
  process.stdout.write(JSON.stringify(decisionJson(d, verified)) + "\n");
  return EXIT_OK;
}
