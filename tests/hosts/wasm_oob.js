// wasm_oob.js — WebAssembly loads out of bounds, which V8 traps with its own SIGSEGV
// handler and turns into RuntimeErrors the script catches.
const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,             // magic, version
  0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f,             // type: (i32) -> i32
  0x03, 0x02, 0x01, 0x00,                                     // function 0 has type 0
  0x05, 0x03, 0x01, 0x00, 0x01,                               // memory: 1 page
  0x07, 0x08, 0x01, 0x04, 0x6c, 0x6f, 0x61, 0x64, 0x00, 0x00, // export "load"
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x28, 0x02, 0x00, 0x0b, // i32.load (local 0)
]);
const load = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.load;
let caught = 0;
for (let i = 0; i < 10000; i++) {
  try {
    load(1 << 20 + (i % 8));
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) caught++;
  }
}
console.log("in bounds " + load(16) + ", caught " + caught);
