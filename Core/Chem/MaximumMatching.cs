namespace MtnnCluster.Chem;

/// <summary>
/// Maximum matching in a general graph (Edmonds' blossom algorithm). Kekulization is a perfect
/// matching on the atoms that need a double bond, and fused ring systems with odd rings
/// (azulene, indole) are not bipartite, so plain augmenting paths are not enough.
/// </summary>
internal sealed class MaximumMatching
{
    private readonly List<int>[] _adjacent;
    private readonly int[] _mate;
    private readonly int[] _parent;
    private readonly int[] _base;
    private readonly bool[] _inQueue;
    private readonly bool[] _inBlossom;
    private readonly bool[] _onPath;
    private readonly Queue<int> _queue = new();

    private MaximumMatching(int vertexCount, IEnumerable<(int U, int V)> edges)
    {
        _adjacent = new List<int>[vertexCount];
        for (var i = 0; i < vertexCount; i++)
        {
            _adjacent[i] = [];
        }
        foreach (var (u, v) in edges)
        {
            _adjacent[u].Add(v);
            _adjacent[v].Add(u);
        }
        _mate = new int[vertexCount];
        _parent = new int[vertexCount];
        _base = new int[vertexCount];
        _inQueue = new bool[vertexCount];
        _inBlossom = new bool[vertexCount];
        _onPath = new bool[vertexCount];
        Array.Fill(_mate, -1);
    }

    /// <summary>The partner of each vertex in a maximum matching, or -1 for unmatched vertices.</summary>
    public static int[] Find(int vertexCount, IEnumerable<(int U, int V)> edges)
    {
        var matching = new MaximumMatching(vertexCount, edges);
        matching.MatchGreedily();
        for (var root = 0; root < vertexCount; root++)
        {
            if (matching._mate[root] < 0 && matching._adjacent[root].Count > 0)
            {
                matching.Augment(matching.FindAugmentingPath(root));
            }
        }
        return matching._mate;
    }

    // A cheap first pass: most of the matching in ring systems is found without any search.
    private void MatchGreedily()
    {
        for (var u = 0; u < _adjacent.Length; u++)
        {
            if (_mate[u] >= 0)
            {
                continue;
            }
            foreach (var v in _adjacent[u])
            {
                if (_mate[v] < 0)
                {
                    _mate[u] = v;
                    _mate[v] = u;
                    break;
                }
            }
        }
    }

    /// <summary>Grows an alternating tree from the root, shrinking odd cycles; returns a free end or -1.</summary>
    private int FindAugmentingPath(int root)
    {
        Array.Fill(_parent, -1);
        Array.Fill(_inQueue, false);
        for (var i = 0; i < _base.Length; i++)
        {
            _base[i] = i;
        }
        _queue.Clear();
        _queue.Enqueue(root);
        _inQueue[root] = true;
        while (_queue.Count > 0)
        {
            var v = _queue.Dequeue();
            foreach (var u in _adjacent[v])
            {
                if (_base[v] == _base[u] || _mate[v] == u)
                {
                    continue;
                }
                var uIsOuter = u == root || (_mate[u] >= 0 && _parent[_mate[u]] >= 0);
                if (uIsOuter)
                {
                    ContractBlossom(v, u);
                }
                else if (_parent[u] < 0)
                {
                    _parent[u] = v;
                    if (_mate[u] < 0)
                    {
                        return u;
                    }
                    _inQueue[_mate[u]] = true;
                    _queue.Enqueue(_mate[u]);
                }
            }
        }
        return -1;
    }

    private void ContractBlossom(int v, int u)
    {
        var top = CommonAncestor(v, u);
        Array.Fill(_inBlossom, false);
        MarkBlossomPath(v, top, u);
        MarkBlossomPath(u, top, v);
        for (var i = 0; i < _base.Length; i++)
        {
            if (!_inBlossom[_base[i]])
            {
                continue;
            }
            _base[i] = top;
            if (!_inQueue[i])
            {
                _inQueue[i] = true;
                _queue.Enqueue(i);
            }
        }
    }

    private int CommonAncestor(int a, int b)
    {
        Array.Fill(_onPath, false);
        while (true)
        {
            a = _base[a];
            _onPath[a] = true;
            if (_mate[a] < 0)
            {
                break;
            }
            a = _parent[_mate[a]];
        }
        while (true)
        {
            b = _base[b];
            if (_onPath[b])
            {
                return b;
            }
            b = _parent[_mate[b]];
        }
    }

    private void MarkBlossomPath(int v, int top, int child)
    {
        while (_base[v] != top)
        {
            _inBlossom[_base[v]] = true;
            _inBlossom[_base[_mate[v]]] = true;
            _parent[v] = child;
            child = _mate[v];
            v = _parent[_mate[v]];
        }
    }

    private void Augment(int end)
    {
        while (end >= 0)
        {
            var previous = _parent[end];
            var next = _mate[previous];
            _mate[end] = previous;
            _mate[previous] = end;
            end = next;
        }
    }
}
