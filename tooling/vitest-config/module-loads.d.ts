/** How often files of package `name` were loaded: by ES import (resolve hook) and by require(). */
export type LoadCount = (name: string) => { imported: number; required: number };
/** Record every module load from now on, into `log`; call first in a child process. */
export declare function trackModuleLoads(log: string): LoadCount;
