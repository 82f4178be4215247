/** spanprobe's version (kept in step with releases). */
export const VERSION = "0.1.0";
