// Entry of the `ringkv` command: the program (program.ts). A node runs with Node's own V8 heap
// settings; one with a large data set can be given a smaller young generation through NODE_OPTIONS
// (README.md, "Limits": the memory that saves and the puts it costs).
import './program.ts';
