/**
 * The nbwarden server's REST contract, as the front end sees it.
 *
 * The server extension owns the decision; this module only asks and reports.
 * Requests go through `ServerConnection` so that the XSRF cookie, the token
 * and the base URL are handled exactly as for JupyterLab's own calls.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Mildest first, as in the policy file. */
export type Action = 'allow' | 'log' | 'warn' | 'block' | 'terminate';

export interface IEvidence {
  file: string | null;
  cell: number | null;
  line: number;
  snippet: string;
  /** What the engine matched, "kind: value" (e.g. "command: xmrig -o ..."). */
  fact: string;
  /** True when the code was hidden (base64, hex, ...) and the engine decoded it. */
  deobfuscated: boolean;
  /** How it was decoded, e.g. "base64 -> exec". */
  how: string | null;
  /** For decoded evidence: what the hidden code says (its first line); `snippet` is then
   * the line in plain sight that hides it. Absent from servers older than this field. */
  decoded?: string | null;
}

export interface IFinding {
  rule_id: string;
  category: string;
  confidence: number;
  severity: string;
  title: string;
  explanation: string;
  hidden: boolean;
  content_hash: string;
  waived: string | null;
  evidence: IEvidence[];
}

/** The answer of `POST /nbwarden/api/check`. */
export interface IVerdict {
  action: Action;
  category: string | null;
  category_name: string | null;
  message: string;
  findings: IFinding[];
  /** What this (or one more) violation means for the user's standing. */
  consequence: string;
  policy_url: string;
  /** Only when action is "warn": lets this exact code run once on this kernel. */
  override_token: string | null;
}

export interface ICheckRequest {
  code: string;
  kernel_id: string | null;
  path: string | null;
  cell_index: number | null;
}

export type Decision = 'cancelled' | 'ran-anyway';

const ACTIONS: readonly Action[] = ['allow', 'log', 'warn', 'block', 'terminate'];

/**
 * Ask the server whether a cell may run.
 *
 * Resolves to `null` when nbwarden's server extension cannot answer (not
 * installed, not enabled, or failing): the caller then runs the cell as
 * JupyterLab would, because the server still enforces the policy on the
 * kernel websocket and a broken check must not make notebooks unusable.
 */
export async function checkCell(request: ICheckRequest): Promise<IVerdict | null> {
  let response: Response;
  try {
    response = await post('check', request);
  } catch (reason) {
    console.warn('nbwarden: the check endpoint is unreachable; running without it', reason);
    return null;
  }
  if (!response.ok) {
    console.warn(`nbwarden: the check endpoint answered ${response.status}; running without it`);
    return null;
  }
  try {
    const verdict = (await response.json()) as IVerdict;
    if (!ACTIONS.includes(verdict.action)) {
      throw new Error(`unknown action ${JSON.stringify(verdict.action)}`);
    }
    verdict.findings = verdict.findings ?? [];
    return verdict;
  } catch (reason) {
    console.warn('nbwarden: unreadable answer from the check endpoint; running without it', reason);
    return null;
  }
}

/**
 * Record what the user chose in a warning dialog. Never throws: losing this
 * record must not stop the user's work (the server also sees the override).
 */
export async function recordDecision(
  decision: Decision,
  request: ICheckRequest
): Promise<void> {
  try {
    const response = await post('decision', {
      kernel_id: request.kernel_id,
      code: request.code,
      decision,
      path: request.path
    });
    if (!response.ok) {
      console.warn(`nbwarden: recording the decision failed (${response.status})`);
    }
  } catch (reason) {
    console.warn('nbwarden: recording the decision failed', reason);
  }
}

function post(endpoint: string, body: unknown): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'nbwarden', 'api', endpoint);
  return ServerConnection.makeRequest(
    url,
    { method: 'POST', body: JSON.stringify(body) },
    settings
  );
}
