// `portico doctor --json` against the "portico" cases of ./cases.js (fixtures in ./servers.js).
import { doctorSuite } from "./cases.js";

doctorSuite("portico");
