// `portico doctor --json` against the "nginx" cases of ./cases.js (fixtures in ./servers.js).
import { doctorSuite } from "./cases.js";

doctorSuite("nginx");
