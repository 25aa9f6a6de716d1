// Ambient declarations for Node 20 runtime APIs that its type packages lack:
// the part of the WebAssembly JS API AECP uses, and well-formed strings.
// Node 20 provides the API at run time, but @types/node@20 does not declare it
// and the DOM lib would bring in browser globals we must not use.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource);
    static exports(module: Module): Array<{ name: string; kind: string }>;
    static imports(module: Module): Array<{ module: string; name: string; kind: string }>;
  }
  class Instance {
    constructor(module: Module, importObject?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number });
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  function validate(bytes: BufferSource): boolean;
  function compile(bytes: BufferSource): Promise<Module>;
  function instantiate(module: Module, importObject?: Record<string, Record<string, unknown>>): Promise<Instance>;
  class CompileError extends Error {}
  class LinkError extends Error {}
  class RuntimeError extends Error {}
}
type BufferSource = ArrayBufferView | ArrayBuffer;

// ES2024 well-formed string methods: present in Node 20 (V8 11.3); declared
// here because lib "ES2024" would also declare APIs Node 20 lacks (Object.groupBy).
interface String {
  isWellFormed(): boolean;
  toWellFormed(): string;
}
