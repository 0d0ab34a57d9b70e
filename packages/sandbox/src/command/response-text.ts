/** One answer of the command API before it is written as protocol text. */
export interface CommandResult {
  code: number;
  description: string;
  /** Table data by column; each value sits at its index. */
  properties?: ReadonlyMap<string, readonly string[]> | undefined;
}

// The format has no escaping: a line break inside a value would start a new line.
function oneLine(value: string): string {
  return value.includes('\n') || value.includes('\r') ? value.replace(/[\r\n]+/g, ' ') : value;
}

/** Write a result as ISPAPI response text: `[RESPONSE]`, `CODE`, ..., `EOF`. */
export function formatResponse(result: CommandResult, runtimeSeconds: number): string {
  let text = `[RESPONSE]\nCODE = ${result.code}\nDESCRIPTION = ${oneLine(result.description)}\n`;
  if (result.properties !== undefined) {
    for (const [name, values] of result.properties) {
      for (let index = 0; index < values.length; index += 1) {
        text += `PROPERTY[${name}][${index}] = ${oneLine(values[index] ?? '')}\n`;
      }
    }
  }
  return `${text}QUEUETIME = 0\nRUNTIME = ${runtimeSeconds.toFixed(3)}\nEOF\n`;
}

/** A result without table data. */
export function result(code: number, description: string): CommandResult {
  return { code, description };
}

/** Descriptions of the codes the sandbox answers. */
export const descriptions = {
  200: 'Command completed successfully',
  210: 'Domain name available',
  211: 'Domain name not available',
  500: 'Invalid command name',
  504: 'Missing required attribute',
  505: 'Invalid attribute value syntax',
  530: 'Authentication failed',
  531: 'Authorization failed',
  541: 'Invalid attribute value',
  545: 'Entity reference not found',
  549: 'Command failed',
} as const;
