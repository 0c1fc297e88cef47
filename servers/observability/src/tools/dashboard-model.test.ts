import { describe, expect, it } from 'vitest';
import { flattenPanels, flattenV2, variablesOfV2, withLibraryModel } from './dashboard-model.js';

const panel = (id: number, title: string) => ({
  kind: 'Panel',
  spec: {
    id,
    title,
    vizConfig: { kind: 'VizConfig', group: 'stat', spec: {} },
    data: { kind: 'QueryGroup', spec: { queries: [] } },
  },
});
const item = (name: string) => ({ kind: 'GridLayoutItem', spec: { element: { kind: 'ElementReference', name } } });

describe('flattenV2', () => {
  it('walks tabs and rows in layout order and lists unreferenced elements last', () => {
    const spec = {
      elements: { a: panel(1, 'A'), b: panel(2, 'B'), c: panel(3, 'C'), orphan: panel(4, 'Unplaced') },
      layout: {
        kind: 'TabsLayout',
        spec: {
          tabs: [
            {
              kind: 'TabsLayoutTab',
              spec: { title: 'Overview', layout: { kind: 'GridLayout', spec: { items: [item('b')] } } },
            },
            {
              kind: 'TabsLayoutTab',
              spec: {
                title: 'Details',
                layout: {
                  kind: 'RowsLayout',
                  spec: {
                    rows: [
                      {
                        kind: 'RowsLayoutRow',
                        spec: {
                          title: 'Inner',
                          layout: { kind: 'AutoGridLayout', spec: { items: [item('a'), item('c')] } },
                        },
                      },
                    ],
                  },
                },
              },
            },
          ],
        },
      },
    };
    expect(flattenV2(spec).map((p) => [p.title, p.row, p.type])).toEqual([
      ['B', 'Overview', 'stat'],
      ['A', 'Inner', 'stat'],
      ['C', 'Inner', 'stat'],
      ['Unplaced', null, 'stat'],
    ]);
  });

  it('reads v2alpha1 queries (kind = datasource type, datasource on the panel query)', () => {
    const spec = {
      elements: {
        p: {
          kind: 'Panel',
          spec: {
            id: 1,
            title: 'Logs',
            vizConfig: { kind: 'logs', spec: {} },
            data: {
              kind: 'QueryGroup',
              spec: {
                queries: [
                  {
                    kind: 'PanelQuery',
                    spec: {
                      refId: 'A',
                      datasource: { type: 'loki', uid: 'l1' },
                      query: { kind: 'loki', spec: { expr: '{app="x"}' } },
                    },
                  },
                ],
              },
            },
          },
        },
      },
      layout: { kind: 'GridLayout', spec: { items: [item('p')] } },
    };
    expect(flattenV2(spec)[0]).toMatchObject({
      type: 'logs',
      queries: [{ refId: 'A', datasource: 'loki:l1', query: '{app="x"}' }],
    });
  });

  it('reads variables of every kind by name', () => {
    const vars = variablesOfV2({
      variables: [
        { kind: 'CustomVariable', spec: { name: 'env', query: 'prod,dev', current: { text: 'prod', value: 'prod' } } },
        { kind: 'DatasourceVariable', spec: { name: 'ds', pluginId: 'prometheus' } },
      ],
    });
    expect(vars).toEqual([
      { name: 'env', type: 'custom', query: 'prod,dev', current: 'prod' },
      { name: 'ds', type: 'datasource' },
    ]);
  });
});

describe('library panels', () => {
  it('keeps the dashboard title and the reference when the model is applied', () => {
    const [ref] = flattenPanels({
      panels: [{ id: 3, title: 'Local title', libraryPanel: { uid: 'u1', name: 'Shared' } }],
    });
    expect(ref).toMatchObject({ title: 'Local title', type: 'library-panel', library: { uid: 'u1', name: 'Shared' } });
    const applied = withLibraryModel(ref as never, {
      type: 'gauge',
      title: 'Model title',
      targets: [{ refId: 'A', expr: 'x' }],
    });
    expect(applied).toMatchObject({
      id: 3,
      title: 'Local title',
      type: 'gauge',
      library: { uid: 'u1' },
      queries: [{ query: 'x' }],
    });
  });
});
