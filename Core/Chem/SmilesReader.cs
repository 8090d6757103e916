namespace MtnnCluster.Chem;

/// <summary>An atom as written in the SMILES, before hydrogens and valences are worked out.</summary>
internal sealed record AtomToken(int Position, int AtomicNumber, int Isotope, int Charge, int Hydrogens, bool Aromatic,
    bool Bracket, ChiralTag Chirality = ChiralTag.Unspecified);

/// <summary>
/// A bond as written; a null order means none was written (single, or aromatic between aromatic atoms).
/// <paramref name="Direction"/> is '/' or '\' as seen going from Begin to End, or '\0'; <paramref name="RingNumber"/>
/// is the ring-closure number that made the bond, or -1.
/// </summary>
internal sealed record BondToken(int Position, int Begin, int End, BondOrder? Order, char Direction = '\0',
    int RingNumber = -1);

/// <summary>
/// What the reader found: tokens, and per atom its neighbours in the order the SMILES lists them (the order
/// '@' and '@@' refer to) and whether the first of them is the atom written before it.
/// </summary>
internal sealed record SmilesTokens(List<AtomToken> Atoms, List<BondToken> Bonds, List<List<int>?> NeighborOrder,
    List<bool> HasPreceding);

/// <summary>
/// Reads the SMILES grammar into atom and bond tokens: organic-subset and bracket atoms, bonds,
/// branches, ring closures (0-9, %nn, %(n)) and '.' components. Chirality marks and bond
/// directions are kept for stereo perception; atom classes are dropped; whitespace ends the SMILES (a name may
/// follow, as in RDKit).
/// </summary>
internal sealed class SmilesReader
{
    private const int MaxRingNumber = 99999;

    private readonly string _text;
    private readonly int _end;
    private readonly List<AtomToken> _atoms = [];
    private readonly List<BondToken> _bonds = [];
    private readonly HashSet<(int, int)> _bonded = [];
    private readonly Dictionary<int, (int Atom, BondOrder? Order, int Position, char Direction, int Slot)> _openRings = [];
    // only chiral atoms need their neighbour order; the others keep null and cost nothing
    private readonly List<List<int>?> _neighborOrder = [];
    private readonly List<bool> _hasPreceding = [];
    private int _pos;

    private SmilesReader(string text)
    {
        _text = text;
        var end = text.IndexOfAny([' ', '\t', '\r', '\n']);
        _end = end < 0 ? text.Length : end;
    }

    public static SmilesTokens Read(string text)
    {
        var reader = new SmilesReader(text);
        reader.ReadAll();
        return new SmilesTokens(reader._atoms, reader._bonds, reader._neighborOrder, reader._hasPreceding);
    }

    private void ReadAll()
    {
        var branches = new Stack<(int Atom, int Position)>();
        var previous = -1;
        BondOrder? pendingBond = null;
        var pendingDirection = '\0';
        var pendingPosition = -1;
        var branchJustOpened = false;
        while (_pos < _end)
        {
            var c = _text[_pos];
            if (c == '(')
            {
                if (previous < 0)
                {
                    throw Fail("'(' must follow an atom");
                }
                if (pendingPosition >= 0)
                {
                    throw Fail("a bond symbol cannot precede '('");
                }
                branches.Push((previous, _pos++));
                branchJustOpened = true;
                continue;
            }
            if (c == ')')
            {
                if (branches.Count == 0)
                {
                    throw Fail("')' without a matching '('");
                }
                if (pendingPosition >= 0)
                {
                    throw Fail("a bond symbol cannot precede ')'");
                }
                if (branchJustOpened)
                {
                    throw Fail("empty branch");
                }
                previous = branches.Pop().Atom;
                _pos++;
                continue;
            }
            branchJustOpened = false;
            if (c == '.')
            {
                if (previous < 0 || pendingPosition >= 0)
                {
                    throw Fail("'.' must separate two atoms");
                }
                previous = -1;
                _pos++;
                continue;
            }
            if (TryBondSymbol(c, out var order))
            {
                if (pendingPosition >= 0)
                {
                    throw Fail("two bond symbols in a row");
                }
                if (previous < 0)
                {
                    throw Fail("a bond symbol must follow an atom");
                }
                pendingBond = order;
                pendingDirection = c is '/' or '\\' ? c : '\0';
                pendingPosition = _pos++;
                continue;
            }
            if (c is >= '0' and <= '9' or '%')
            {
                if (previous < 0)
                {
                    throw Fail("a ring-closure number must follow an atom");
                }
                var start = _pos;
                CloseOrOpenRing(ReadRingNumber(), previous, pendingBond, pendingDirection, start);
                pendingBond = null;
                pendingDirection = '\0';
                pendingPosition = -1;
                continue;
            }
            var atom = ReadAtom();
            if (previous >= 0)
            {
                AddBond(previous, atom, pendingBond, pendingPosition >= 0 ? pendingPosition : _atoms[atom].Position,
                    pendingDirection, ringNumber: -1);
                _neighborOrder[previous]?.Add(atom);
                _neighborOrder[atom]?.Add(previous);
                _hasPreceding[atom] = true;
            }
            previous = atom;
            pendingBond = null;
            pendingDirection = '\0';
            pendingPosition = -1;
        }

        if (pendingPosition >= 0)
        {
            throw new SmilesException(pendingPosition, "the SMILES ends with a bond symbol");
        }
        if (branches.Count > 0)
        {
            throw new SmilesException(branches.Peek().Position, "'(' is never closed");
        }
        if (_openRings.Count > 0)
        {
            var (number, ring) = _openRings.MinBy(r => r.Value.Position);
            throw new SmilesException(ring.Position, $"ring {number} is never closed");
        }
        if (_atoms.Count == 0)
        {
            throw new SmilesException(0, "no atoms");
        }
        if (previous < 0)
        {
            throw new SmilesException(_end - 1, "the SMILES ends with '.'");
        }
    }

    private static bool TryBondSymbol(char c, out BondOrder? order)
    {
        order = c switch
        {
            '-' or '/' or '\\' => BondOrder.Single,
            '=' => BondOrder.Double,
            '#' => BondOrder.Triple,
            '$' => BondOrder.Quadruple,
            ':' => BondOrder.Aromatic,
            _ => null,
        };
        return order is not null;
    }

    private int ReadRingNumber()
    {
        if (_text[_pos] != '%')
        {
            return _text[_pos++] - '0';
        }
        _pos++;
        if (_pos < _end && _text[_pos] == '(')
        {
            _pos++;
            var number = ReadNumber(MaxRingNumber, "ring number");
            if (number < 0 || _pos >= _end || _text[_pos] != ')')
            {
                throw Fail("expected a ring number and ')' after '%('");
            }
            _pos++;
            return number;
        }
        if (_pos + 1 >= _end || !char.IsAsciiDigit(_text[_pos]) || !char.IsAsciiDigit(_text[_pos + 1]))
        {
            throw Fail("'%' must be followed by two digits");
        }
        var value = (_text[_pos] - '0') * 10 + (_text[_pos + 1] - '0');
        _pos += 2;
        return value;
    }

    private void CloseOrOpenRing(int number, int atom, BondOrder? order, char direction, int position)
    {
        if (!_openRings.Remove(number, out var opening))
        {
            // The partner is not known yet; its place in this atom's neighbour order is.
            _openRings[number] = (atom, order, position, direction, _neighborOrder[atom]?.Count ?? -1);
            _neighborOrder[atom]?.Add(-1);
            return;
        }
        if (opening.Atom == atom)
        {
            throw new SmilesException(position, $"ring {number} closes on the atom that opened it");
        }
        if (opening.Order is { } first && order is { } second && first != second)
        {
            throw new SmilesException(position, $"ring {number} has two different bond orders");
        }
        // A direction written at the opening digit points from the opening atom; one written at the closing
        // digit points from the closing atom, so it is reversed for the Begin->End sense.
        var ringDirection = opening.Direction != '\0' ? opening.Direction : Reverse(direction);
        AddBond(opening.Atom, atom, opening.Order ?? order, position, ringDirection, number);
        if (_neighborOrder[opening.Atom] is { } openingOrder)
        {
            openingOrder[opening.Slot] = atom;
        }
        _neighborOrder[atom]?.Add(opening.Atom);
    }

    private static char Reverse(char direction) => direction switch { '/' => '\\', '\\' => '/', _ => '\0' };

    private void AddBond(int begin, int end, BondOrder? order, int position, char direction, int ringNumber)
    {
        if (!_bonded.Add((Math.Min(begin, end), Math.Max(begin, end))))
        {
            throw new SmilesException(position, "two bonds between the same pair of atoms");
        }
        _bonds.Add(new BondToken(position, begin, end, order, direction, ringNumber));
    }

    private int ReadAtom()
    {
        var position = _pos;
        var token = _text[_pos] == '[' ? ReadBracketAtom() : ReadOrganicAtom();
        _atoms.Add(token with { Position = position });
        _neighborOrder.Add(token.Chirality == ChiralTag.Unspecified ? null : []);
        _hasPreceding.Add(false);
        return _atoms.Count - 1;
    }

    private AtomToken ReadOrganicAtom()
    {
        var c = _text[_pos];
        if (c == '*')
        {
            throw Fail("wildcard atoms are not supported");
        }
        if (c == 'C' && Peek(1) == 'l')
        {
            _pos += 2;
            return Organic(17, aromatic: false);
        }
        if (c == 'B' && Peek(1) == 'r')
        {
            _pos += 2;
            return Organic(35, aromatic: false);
        }
        var (atomicNumber, aromatic) = c switch
        {
            'B' => (5, false), 'C' => (6, false), 'N' => (7, false), 'O' => (8, false), 'P' => (15, false),
            'S' => (16, false), 'F' => (9, false), 'I' => (53, false),
            'b' => (5, true), 'c' => (6, true), 'n' => (7, true), 'o' => (8, true), 'p' => (15, true),
            's' => (16, true),
            _ => throw Fail($"unexpected character '{c}'"),
        };
        _pos++;
        return Organic(atomicNumber, aromatic);
    }

    private static AtomToken Organic(int atomicNumber, bool aromatic) =>
        new(0, atomicNumber, 0, 0, 0, aromatic, Bracket: false);

    private AtomToken ReadBracketAtom()
    {
        _pos++;
        var isotope = Math.Max(ReadNumber(999, "isotope"), 0);
        var (atomicNumber, aromatic) = ReadElement();
        var chirality = ReadChirality();
        var hydrogens = 0;
        if (Peek(0) == 'H')
        {
            _pos++;
            hydrogens = ReadNumber(99, "hydrogen count") is var h and >= 0 ? h : 1;
        }
        var charge = ReadCharge();
        if (Peek(0) == ':')
        {
            _pos++;
            if (ReadNumber(int.MaxValue / 10, "atom class") < 0)
            {
                throw Fail("':' in an atom must be followed by the atom class number");
            }
        }
        if (Peek(0) != ']')
        {
            throw _pos >= _end ? Fail("'[' is never closed") : Fail($"unexpected '{_text[_pos]}' in a bracket atom");
        }
        _pos++;
        return new AtomToken(0, atomicNumber, isotope, charge, hydrogens, aromatic, Bracket: true, chirality);
    }

    private (int AtomicNumber, bool Aromatic) ReadElement()
    {
        var c = Peek(0);
        if (char.IsAsciiLetterUpper(c))
        {
            if (char.IsAsciiLetterLower(Peek(1)) &&
                PeriodicTable.TryGetAtomicNumber(_text.Substring(_pos, 2), out var twoLetter))
            {
                _pos += 2;
                return (twoLetter, false);
            }
            if (PeriodicTable.TryGetAtomicNumber(c.ToString(), out var oneLetter))
            {
                _pos++;
                return (oneLetter, false);
            }
        }
        else if (char.IsAsciiLetterLower(c))
        {
            // Aromatic symbols allowed in brackets: b c n o p s se as te si.
            var two = _pos + 1 < _end ? _text.Substring(_pos, 2) : "";
            var aromaticTwo = two switch { "se" => 34, "as" => 33, "te" => 52, "si" => 14, _ => 0 };
            if (aromaticTwo > 0)
            {
                _pos += 2;
                return (aromaticTwo, true);
            }
            var aromaticOne = c switch { 'b' => 5, 'c' => 6, 'n' => 7, 'o' => 8, 'p' => 15, 's' => 16, _ => 0 };
            if (aromaticOne > 0)
            {
                _pos++;
                return (aromaticOne, true);
            }
        }
        else if (c == '*')
        {
            throw Fail("wildcard atoms are not supported");
        }
        throw Fail("expected an element symbol in the bracket atom");
    }

    /// <summary>'@' is counter-clockwise and '@@' clockwise, as RDKit tags them; @TH1/@TH2 are their long forms.</summary>
    private ChiralTag ReadChirality()
    {
        if (Peek(0) != '@')
        {
            return ChiralTag.Unspecified;
        }
        _pos++;
        if (Peek(0) == '@')
        {
            _pos++;
            return ChiralTag.Clockwise;
        }
        var tag = _pos + 1 < _end ? _text.Substring(_pos, 2) : "";
        if (tag is not ("TH" or "AL" or "SP" or "TB" or "OH"))
        {
            return ChiralTag.CounterClockwise;
        }
        _pos += 2;
        var number = ReadNumber(99, "chirality class");
        if (number < 0)
        {
            throw Fail($"@{tag} must be followed by a number");
        }
        return tag switch
        {
            "TH" => number == 2 ? ChiralTag.Clockwise : ChiralTag.CounterClockwise,
            "SP" => ChiralTag.SquarePlanar,
            "TB" => ChiralTag.TrigonalBipyramidal,
            "OH" => ChiralTag.Octahedral,
            _ => ChiralTag.Allene,
        };
    }

    private int ReadCharge()
    {
        var sign = Peek(0) switch { '+' => 1, '-' => -1, _ => 0 };
        if (sign == 0)
        {
            return 0;
        }
        var symbol = _text[_pos++];
        var magnitude = ReadNumber(15, "charge");
        if (magnitude >= 0)
        {
            return sign * magnitude;
        }
        magnitude = 1;
        while (Peek(0) == symbol)
        {
            _pos++;
            if (++magnitude > 15)
            {
                throw Fail("charge too large");
            }
        }
        return sign * magnitude;
    }

    /// <summary>Reads an unsigned decimal number, or returns -1 when there is no digit here.</summary>
    private int ReadNumber(int max, string what)
    {
        var start = _pos;
        long value = 0;
        while (_pos < _end && char.IsAsciiDigit(_text[_pos]))
        {
            value = value * 10 + (_text[_pos++] - '0');
            if (value > max)
            {
                throw new SmilesException(start, $"{what} too large");
            }
        }
        return _pos == start ? -1 : (int)value;
    }

    private char Peek(int offset) => _pos + offset < _end ? _text[_pos + offset] : '\0';

    private SmilesException Fail(string reason) => new(_pos, reason);
}
