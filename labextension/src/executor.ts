/**
 * A notebook cell executor that asks nbwarden before a code cell runs.
 *
 * JupyterLab (>= 4.2) runs every cell through one `INotebookCellExecutor`;
 * this one replaces the default (which package.json disables) and differs
 * from it in one step only: between "the kernel is ready" and "send
 * execute_request", it checks the code with the server and acts on the
 * verdict. Everything else, markdown cells included, is JupyterLab's own
 * `runCell`, or a faithful copy of its code-cell branch where the override
 * metadata has to travel with the request.
 *
 * The server stays the authority: it checks the execute_request on the kernel
 * websocket again and honours "Run anyway" only with the token it issued.
 */
import { Notification, type ISessionContext } from '@jupyterlab/apputils';
import { type Cell, CodeCell } from '@jupyterlab/cells';
import {
  type INotebookCellExecutor,
  type INotebookModel,
  KernelError,
  runCell as defaultRunCell
} from '@jupyterlab/notebook';
import type { KernelMessage } from '@jupyterlab/services';

import { checkCell, type ICheckRequest, type IVerdict, recordDecision } from './api';
import { showVerdict } from './dialog';

type Options = INotebookCellExecutor.IRunCellOptions;

/** Extra execute_request metadata; `undefined` means "do not run". */
type Plan = { metadata: Record<string, unknown> } | undefined;

/**
 * Per notebook session: the turn of the cell that may send next, and a
 * generation bumped whenever a cell is refused (see `_abortQueued`).
 */
interface IQueue {
  tail: Promise<void>;
  generation: number;
}

export class PolicyCellExecutor implements INotebookCellExecutor {
  async runCell(options: Options): Promise<boolean> {
    const { cell, sessionContext } = options;
    if (cell.model.type !== 'code' || !sessionContext) {
      return defaultRunCell(options);
    }
    if (sessionContext.isTerminating || sessionContext.pendingInput) {
      // JupyterLab explains these itself and does not run the cell.
      return defaultRunCell(options);
    }
    return this._inTurn(sessionContext, options);
  }

  /**
   * Run cells of one session strictly in the order they were asked for.
   *
   * The check is asynchronous (and may wait on a dialog), so without this
   * "Run all" could send cell 3 before cell 2. A cell holds the turn until its
   * execute_request is sent, not until it finishes: the kernel queues the rest.
   * When a cell is refused, the cells queued behind it are not run, as the
   * kernel itself aborts queued cells after an error.
   */
  private async _inTurn(sessionContext: ISessionContext, options: Options): Promise<boolean> {
    const queue = this._queueOf(sessionContext);
    const generation = queue.generation;
    const previous = queue.tail;
    let release!: () => void;
    const turn = new Promise<void>(resolve => (release = resolve));
    queue.tail = previous.then(() => turn);
    try {
      await previous;
      if (queue.generation !== generation) {
        return false; // an earlier cell in this run was refused
      }
      const plan = await this._plan(sessionContext, options);
      if (plan === undefined) {
        queue.generation++;
        return false;
      }
      const sent = this._execute(options, plan.metadata);
      release();
      return await sent;
    } finally {
      release();
    }
  }

  /** Make sure there is a kernel, check the code, ask the user when needed. */
  private async _plan(sessionContext: ISessionContext, options: Options): Promise<Plan> {
    const { cell, notebook, sessionDialogs } = options;
    if (!sessionContext.isReady) {
      // Opened a moment ago: the kernel is still being started. Wait for it, so that
      // the check knows the kernel (an override token is bound to it) and the cell
      // is not dropped silently for want of a kernel.
      await sessionContext.ready;
    }
    if (sessionContext.hasNoKernel) {
      const shouldSelect = await sessionContext.startKernel();
      if (shouldSelect && sessionDialogs) {
        await sessionDialogs.selectKernel(sessionContext);
      }
    }
    const code = cell.model.sharedModel.getSource();
    if (sessionContext.hasNoKernel || !code.trim()) {
      return { metadata: {} }; // CodeCell.execute clears the cell, as JupyterLab does
    }
    const request: ICheckRequest = {
      code,
      kernel_id: sessionContext.session?.kernel?.id ?? null,
      path: sessionContext.session?.path ?? sessionContext.path ?? null,
      cell_index: indexOf(notebook, cell)
    };
    const verdict = await checkCell(request);
    if (verdict === null) {
      return { metadata: {} }; // no check available: the server's websocket check still applies
    }
    return this._act(verdict, request);
  }

  private async _act(verdict: IVerdict, request: ICheckRequest): Promise<Plan> {
    switch (verdict.action) {
      case 'allow':
        return { metadata: {} };
      case 'log':
        Notification.info(
          `${verdict.category_name ? `This cell looks like ${verdict.category_name}. ` : ''}` +
            'It runs; the use is noted under the usage policy.',
          { autoClose: 6000, actions: policyAction(verdict) }
        );
        return { metadata: {} };
      case 'warn': {
        const choice = await showVerdict(verdict, request.cell_index);
        if (choice === 'cancel' || !verdict.override_token) {
          await recordDecision('cancelled', request);
          return undefined;
        }
        await recordDecision('ran-anyway', request);
        return { metadata: { nbwarden: { override: verdict.override_token } } };
      }
      case 'terminate':
        Notification.error(verdict.message, { autoClose: false, actions: policyAction(verdict) });
        await showVerdict(verdict, request.cell_index);
        return undefined;
      case 'block':
      default:
        await showVerdict(verdict, request.cell_index);
        return undefined;
    }
  }

  /**
   * JupyterLab's code-cell execution (notebook/src/cellexecutor.ts, 4.2-4.6)
   * with extra execute_request metadata. `CodeCell.execute` sends the request
   * synchronously, so the caller may release the turn as soon as this returns.
   */
  private async _execute(options: Options, extra: Record<string, unknown>): Promise<boolean> {
    const { cell, notebook, notebookConfig, onCellExecuted, onCellExecutionScheduled } = options;
    const sessionContext = options.sessionContext!;
    const deletedCells = notebook.deletedCells;
    onCellExecutionScheduled({ cell });
    let ran = false;
    try {
      const reply = await CodeCell.execute(cell as CodeCell, sessionContext, {
        deletedCells,
        recordTiming: notebookConfig.recordTiming,
        ...extra
      });
      deletedCells.splice(0, deletedCells.length);
      if (cell.isDisposed) {
        ran = false;
      } else if (!reply) {
        ran = true;
      } else if (reply.content.status === 'ok') {
        handlePayload(reply.content, notebook, cell);
        ran = true;
      } else {
        throw new KernelError(reply.content);
      }
    } catch (reason) {
      if (cell.isDisposed || String((reason as Error)?.message ?? '').startsWith('Canceled')) {
        ran = false;
      } else {
        onCellExecuted({ cell, success: false, error: reason as KernelError });
        throw reason;
      }
    }
    if (ran) {
      onCellExecuted({ cell, success: true });
    }
    return ran;
  }

  private _queueOf(sessionContext: ISessionContext): IQueue {
    let queue = this._queues.get(sessionContext);
    if (!queue) {
      queue = { tail: Promise.resolve(), generation: 0 };
      this._queues.set(sessionContext, queue);
    }
    return queue;
  }

  private _queues = new WeakMap<ISessionContext, IQueue>();
}

function indexOf(notebook: INotebookModel, cell: Cell): number | null {
  for (let i = 0; i < notebook.cells.length; i++) {
    if (notebook.cells.get(i) === cell.model) {
      return i;
    }
  }
  return null;
}

function policyAction(verdict: IVerdict): Notification.IAction[] {
  if (!verdict.policy_url) {
    return [];
  }
  return [
    {
      label: 'Policy',
      caption: verdict.policy_url,
      callback: () => window.open(verdict.policy_url, '_blank', 'noopener,noreferrer')
    }
  ];
}

/**
 * `set_next_input` payloads (`%load`, `%recall`), as JupyterLab handles them:
 * replace this cell's source, or insert a new untrusted cell below it.
 */
function handlePayload(
  content: KernelMessage.IExecuteReplyMsg['content'],
  notebook: INotebookModel,
  cell: Cell
): void {
  const payload = (content as { payload?: Record<string, unknown>[] }).payload ?? [];
  const next = payload.find(p => p.source === 'set_next_input');
  if (!next) {
    return;
  }
  const text = String(next.text ?? '');
  if (next.replace) {
    cell.model.sharedModel.setSource(text);
    return;
  }
  const index = indexOf(notebook, cell);
  notebook.sharedModel.insertCell(index === null ? notebook.cells.length : index + 1, {
    cell_type: 'code',
    source: text,
    metadata: { trusted: false }
  });
}
