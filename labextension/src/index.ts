/**
 * nbwarden's JupyterLab extension: one plugin that provides the notebook cell
 * executor, replacing `@jupyterlab/notebook-extension:cell-executor` (disabled
 * in package.json), so that every code cell is checked before it runs.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookCellExecutor } from '@jupyterlab/notebook';

import { PolicyCellExecutor } from './executor';

const plugin: JupyterFrontEndPlugin<INotebookCellExecutor> = {
  id: 'nbwarden:cell-executor',
  description: 'Checks each code cell against the usage policy before it runs.',
  autoStart: true,
  provides: INotebookCellExecutor,
  activate: (_app: JupyterFrontEnd): INotebookCellExecutor => new PolicyCellExecutor()
};

export default plugin;
