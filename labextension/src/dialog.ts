/**
 * The dialog a user sees when a cell goes against the usage policy: what it
 * looks like, which rule saw what where, what it means for them, and the
 * policy it is judged by. Built from DOM nodes with `textContent` only: the
 * snippets are the user's code and must never be parsed as HTML.
 *
 * Class names (`nbw-*`) are stable: tests and operators' CSS rely on them.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import type { IEvidence, IFinding, IVerdict } from './api';

/** What the user chose: run the cell after all, or leave it. */
export type Choice = 'run' | 'cancel';

export const RUN_ANYWAY = 'Run anyway';

/**
 * Show the verdict. For "warn" the user may run the cell anyway; for
 * "block" and "terminate" there is only Close (and the way to appeal).
 */
export async function showVerdict(verdict: IVerdict, cellIndex: number | null): Promise<Choice> {
  const mayRun = verdict.action === 'warn';
  const result = await showDialog({
    title: titleOf(verdict),
    body: new Widget({ node: renderVerdict(verdict, cellIndex) }),
    buttons: mayRun
      ? [Dialog.cancelButton({ label: 'Cancel' }), Dialog.warnButton({ label: RUN_ANYWAY })]
      : [Dialog.cancelButton({ label: 'Close' })],
    // Enter must not run a disallowed cell: the safe choice is the default.
    defaultButton: 0,
    hasClose: true
  });
  return mayRun && result.button.accept && result.button.label === RUN_ANYWAY ? 'run' : 'cancel';
}

export function titleOf(verdict: IVerdict): string {
  return verdict.category_name
    ? `This looks like ${verdict.category_name}`
    : 'This code goes against the usage policy';
}

/**
 * The server's message without what the dialog already shows elsewhere (the
 * title, the first finding's explanation, the policy link). Each part is cut
 * only when it is literally there, so an unexpected message stays whole.
 */
export function summaryOf(verdict: IVerdict): string {
  let text = verdict.message.trim();
  const cut = (prefix: string): void => {
    if (prefix && text.startsWith(prefix)) {
      text = text.slice(prefix.length).trimStart();
    }
  };
  cut(`${titleOf(verdict)}:`);
  cut(verdict.findings[0]?.explanation ?? '');
  const policy = `Policy: ${verdict.policy_url}`;
  if (verdict.policy_url && text.endsWith(policy)) {
    text = text.slice(0, -policy.length).trimEnd();
  }
  return text || verdict.message;
}

/** The dialog body; exported so that it can be rendered on its own. */
export function renderVerdict(verdict: IVerdict, cellIndex: number | null): HTMLElement {
  const root = el('div', `nbw-dialog nbw-action-${verdict.action}`);
  root.dataset.action = verdict.action;
  root.appendChild(el('p', 'nbw-message', summaryOf(verdict)));

  const findings = el('ul', 'nbw-findings');
  for (const finding of verdict.findings) {
    findings.appendChild(renderFinding(finding, cellIndex));
  }
  if (verdict.findings.length) {
    root.appendChild(findings);
  }

  if (verdict.consequence) {
    root.appendChild(el('p', 'nbw-consequence', verdict.consequence));
  }
  if (verdict.action === 'block' || verdict.action === 'terminate') {
    const ref = verdict.findings[0]?.content_hash.slice(0, 12);
    root.appendChild(
      el(
        'p',
        'nbw-appeal',
        'If this is wrong, you can appeal: follow the policy link below' +
          (ref ? ` and quote reference ${ref}.` : '.')
      )
    );
  }
  if (verdict.policy_url) {
    const link = el('a', 'nbw-policy-link', 'Read the usage policy') as HTMLAnchorElement;
    link.href = verdict.policy_url;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    root.appendChild(link);
  }
  return root;
}

function renderFinding(finding: IFinding, cellIndex: number | null): HTMLElement {
  const item = el('li', 'nbw-finding');
  item.dataset.ruleId = finding.rule_id;
  const head = el('div', 'nbw-finding-head');
  head.appendChild(el('code', 'nbw-rule-id', finding.rule_id));
  head.appendChild(el('span', 'nbw-finding-title', finding.title));
  item.appendChild(head);
  item.appendChild(el('p', 'nbw-explanation', finding.explanation));
  if (finding.waived) {
    item.appendChild(el('p', 'nbw-waived', `Waiver in the code: ${finding.waived}`));
  }
  const evidence = el('ul', 'nbw-evidence-list');
  for (const group of groupByLine(finding.evidence)) {
    evidence.appendChild(renderEvidence(group, cellIndex));
  }
  item.appendChild(evidence);
  return item;
}

/**
 * One rule often matches several facts on the same line (the string, the URL
 * in it, its host): show the line once with every match marked.
 */
function groupByLine(evidence: IEvidence[]): IEvidence[][] {
  const groups = new Map<string, IEvidence[]>();
  for (const ev of evidence) {
    const key = JSON.stringify([ev.file, ev.cell, ev.line, ev.snippet, ev.decoded ?? null]);
    const group = groups.get(key);
    if (group) {
      group.push(ev);
    } else {
      groups.set(key, [ev]);
    }
  }
  return [...groups.values()];
}

function renderEvidence(group: IEvidence[], cellIndex: number | null): HTMLElement {
  const first = group[0];
  const values = group.map(ev => valueOf(ev.fact));
  const item = el('li', 'nbw-evidence');
  const where = el('div', 'nbw-where', whereOf(first, cellIndex));
  const hidden = group.find(ev => ev.deobfuscated);
  if (hidden) {
    const badge = el('span', 'nbw-badge nbw-decoded', 'decoded');
    badge.title = hidden.how
      ? `Hidden in the code (${hidden.how}); decoded by nbwarden`
      : 'Hidden in the code; decoded by nbwarden';
    where.appendChild(badge);
  }
  item.appendChild(where);
  // The line as written, then (when it hides code) what it decodes to.
  const pre = el('pre', 'nbw-snippet');
  pre.appendChild(highlight(first.snippet || first.fact, values));
  item.appendChild(pre);
  const decoded = group.find(ev => ev.decoded)?.decoded;
  if (decoded) {
    const line = el('pre', 'nbw-decoded-text');
    line.appendChild(el('span', 'nbw-decoded-label', 'decodes to '));
    line.appendChild(highlight(decoded, values));
    item.appendChild(line);
  }
  return item;
}

/** "this cell, line 2" or "cell 3, line 1" (1-based, as JupyterLab's status bar counts). */
function whereOf(ev: IEvidence, cellIndex: number | null): string {
  const line = `line ${ev.line}`;
  if (ev.cell === null || ev.cell === undefined) {
    return ev.file && !ev.file.startsWith('<') ? `${ev.file}, ${line}` : line;
  }
  return ev.cell === cellIndex ? `this cell, ${line}` : `cell ${ev.cell + 1}, ${line}`;
}

/** The matched value of a fact "kind: value". */
function valueOf(fact: string): string {
  const at = fact.indexOf(': ');
  return at >= 0 ? fact.slice(at + 2) : fact;
}

/** The snippet as a <code> node with the first occurrence of each value in <mark>. */
function highlight(text: string, values: string[]): HTMLElement {
  const lower = text.toLowerCase();
  const ranges: [number, number][] = [];
  // A fact that is the whole line (the decoded source itself) marks nothing useful.
  const whole = text.trim().toLowerCase();
  const parts = values.filter(v => v.trim().toLowerCase() !== whole);
  for (const value of parts.length ? parts : values) {
    const at = value ? lower.indexOf(value.toLowerCase()) : -1;
    if (at >= 0) {
      ranges.push([at, at + value.length]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const code = document.createElement('code');
  let pos = 0;
  for (const [start, end] of ranges) {
    if (end <= pos) {
      continue; // inside a range already marked
    }
    const from = Math.max(start, pos);
    code.appendChild(document.createTextNode(text.slice(pos, from)));
    if (from > start) {
      // overlaps the previous mark: extend it
      code.lastElementChild!.textContent += text.slice(from, end);
    } else {
      code.appendChild(el('mark', 'nbw-match', text.slice(from, end)));
    }
    pos = end;
  }
  code.appendChild(document.createTextNode(text.slice(pos)));
  return code;
}

function el(tag: string, className: string, text?: string): HTMLElement {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}
