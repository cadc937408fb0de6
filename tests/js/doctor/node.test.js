// `portico doctor --json` against the "node" cases of ./cases.js (fixtures in ./servers.js).
import { doctorSuite } from "./cases.js";

doctorSuite("node");
