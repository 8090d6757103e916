namespace MtnnCluster.Chem;

/// <summary>
/// Rewrites the hypervalent spellings RDKit accepts into their charge-separated forms before
/// valences are checked, so both spellings give one molecule: CN(=O)=O becomes C[N+](=O)[O-],
/// C-N=N#N becomes C-N=[N+]=[N-], C=P(=O)X becomes C=[P+]([O-])X and OCl(=O)(=O)=O becomes
/// O[Cl+3]([O-])([O-])[O-].
/// </summary>
internal static class ChargeSeparation
{
    public static void Apply(Molecule m)
    {
        SeparateNitrogens(m);
        foreach (var atom in m.Atoms)
        {
            switch (atom.AtomicNumber)
            {
                case 15:
                    SeparatePhosphorus(m, atom);
                    break;
                case 17 or 35 or 53:
                    SeparateHalogenOxides(m, atom);
                    break;
            }
        }
    }

    private static void SeparateNitrogens(Molecule m)
    {
        var pentavalent = m.Atoms
            .Where(a => a.AtomicNumber == 7 && a.FormalCharge == 0 && ValenceModel.ExplicitValence(m, a) == 5)
            .ToList();
        foreach (var nitrogen in pentavalent)
        {
            MoveChargeAcross(m, nitrogen, neighbor: 8, BondOrder.Double, BondOrder.Single);
        }
        foreach (var nitrogen in pentavalent)
        {
            MoveChargeAcross(m, nitrogen, neighbor: 7, BondOrder.Triple, BondOrder.Double);
        }
    }

    // Lowers the first matching bond to a neutral neighbour by one order: + on the atom, - on the neighbour.
    private static void MoveChargeAcross(Molecule m, Atom atom, int neighbor, BondOrder from, BondOrder to)
    {
        foreach (var b in m.BondsOf(atom.Index))
        {
            var bond = m.Bonds[b];
            var other = m.Atoms[bond.OtherAtom(atom.Index)];
            if (other.AtomicNumber == neighbor && other.FormalCharge == 0 && bond.Order == from)
            {
                bond.Order = to;
                atom.FormalCharge = 1;
                other.FormalCharge = -1;
                return;
            }
        }
    }

    private static void SeparatePhosphorus(Molecule m, Atom phosphorus)
    {
        if (phosphorus.FormalCharge != 0 || m.Degree(phosphorus.Index) != 3 ||
            ValenceModel.ExplicitValence(m, phosphorus) != 5)
        {
            return;
        }
        Bond? toOxygen = null;
        var doubleToCarbonOrNitrogen = false;
        foreach (var b in m.BondsOf(phosphorus.Index))
        {
            var bond = m.Bonds[b];
            var other = bond.OtherAtom(phosphorus.Index);
            var otherAtom = m.Atoms[other];
            if (bond.Order != BondOrder.Double)
            {
                continue;
            }
            if (otherAtom.AtomicNumber == 8 && otherAtom.FormalCharge == 0)
            {
                toOxygen = bond;
            }
            else if (otherAtom.AtomicNumber is 6 or 7 && m.Degree(other) >= 2)
            {
                doubleToCarbonOrNitrogen = true;
            }
        }
        if (toOxygen is not null && doubleToCarbonOrNitrogen)
        {
            toOxygen.Order = BondOrder.Single;
            m.Atoms[toOxygen.OtherAtom(phosphorus.Index)].FormalCharge = -1;
            phosphorus.FormalCharge = 1;
        }
    }

    private static void SeparateHalogenOxides(Molecule m, Atom halogen)
    {
        if (halogen.FormalCharge != 0 || ValenceModel.ExplicitValence(m, halogen) is not (3 or 5 or 7))
        {
            return;
        }
        var bonds = m.BondsOf(halogen.Index);
        if (bonds.Any(b => m.Atoms[m.Bonds[b].OtherAtom(halogen.Index)].AtomicNumber != 8))
        {
            return;
        }
        foreach (var b in bonds)
        {
            var bond = m.Bonds[b];
            if (bond.Order == BondOrder.Double)
            {
                bond.Order = BondOrder.Single;
                m.Atoms[bond.OtherAtom(halogen.Index)].FormalCharge = -1;
                halogen.FormalCharge++;
            }
        }
    }
}
