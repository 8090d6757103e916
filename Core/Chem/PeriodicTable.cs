using System.Globalization;

namespace MtnnCluster.Chem;

/// <summary>
/// Element data the valence, aromaticity and fingerprint rules need: symbol, standard atomic
/// weight, outer-shell electrons and allowed valences. The valence lists follow RDKit's
/// conventions so that validity and hydrogen counts agree with it: the first entry is the
/// default valence, and <see cref="AnyValence"/> means "any higher valence is accepted".
/// </summary>
internal static class PeriodicTable
{
    public const int AnyValence = -1;
    public const int MaxAtomicNumber = 118;

    // One "symbol weight outerElectrons valences" entry per atomic number, 0 (dummy) to 118.
    private static readonly string[] Rows =
    [
        "* 0 0 * | H 1.008 1 1 | He 4.003 2 0 | Li 6.941 1 1,* | Be 9.012 2 2 | B 10.812 3 3",
        "C 12.011 4 4 | N 14.007 5 3 | O 15.999 6 2 | F 18.998 7 1 | Ne 20.18 8 0 | Na 22.99 1 1,*",
        "Mg 24.305 2 2,* | Al 26.982 3 3 | Si 28.086 4 4 | P 30.974 5 3,5 | S 32.067 6 2,4,6 | Cl 35.453 7 1",
        "Ar 39.948 8 0 | K 39.098 1 1,* | Ca 40.078 2 2,* | Sc 44.956 3 * | Ti 47.867 4 * | V 50.944 5 *",
        "Cr 51.996 6 * | Mn 54.938 7 * | Fe 55.845 8 * | Co 58.933 9 * | Ni 58.693 10 * | Cu 63.546 11 *",
        "Zn 65.39 2 * | Ga 69.723 3 3 | Ge 72.61 4 4 | As 74.922 5 3,5 | Se 78.96 6 2,4,6 | Br 79.904 7 1",
        "Kr 83.8 8 0 | Rb 85.468 1 1,* | Sr 87.62 2 2,* | Y 88.906 3 * | Zr 91.224 4 * | Nb 92.906 5 *",
        "Mo 95.94 6 * | Tc 98 7 * | Ru 101.07 8 * | Rh 102.906 9 * | Pd 106.42 10 * | Ag 107.868 11 *",
        "Cd 112.412 2 * | In 114.818 3 3 | Sn 118.711 4 2,4 | Sb 121.76 5 3,5 | Te 127.6 6 2,4,6 | I 126.904 7 1,3,5",
        "Xe 131.29 8 0,2,4,6 | Cs 132.905 1 1 | Ba 137.328 2 2,* | La 138.906 3 * | Ce 140.116 4 * | Pr 140.908 3 *",
        "Nd 144.24 4 * | Pm 145 5 * | Sm 150.36 6 * | Eu 151.964 7 * | Gd 157.25 8 * | Tb 158.925 9 *",
        "Dy 162.5 10 * | Ho 164.93 11 * | Er 167.26 12 * | Tm 168.934 13 * | Yb 173.04 14 * | Lu 174.967 15 *",
        "Hf 178.49 4 * | Ta 180.948 5 * | W 183.84 6 * | Re 186.207 7 * | Os 190.23 8 * | Ir 192.217 9 *",
        "Pt 195.078 10 * | Au 196.967 11 * | Hg 200.59 2 * | Tl 204.383 3 * | Pb 207.2 4 2,4 | Bi 208.98 5 3,5",
        "Po 209 6 2,4,6 | At 210 7 1,3,5 | Rn 222 8 0 | Fr 223 1 1 | Ra 226 2 2,* | Ac 227 3 *",
        "Th 232.038 4 * | Pa 231.036 3 * | U 238.029 4 * | Np 237 5 * | Pu 244 6 * | Am 243 7 *",
        "Cm 247 8 * | Bk 247 9 * | Cf 251 10 * | Es 252 11 * | Fm 257 12 * | Md 258 13 *",
        "No 259 14 * | Lr 262 15 * | Rf 267 2 * | Db 268 2 * | Sg 269 2 * | Bh 270 2 *",
        "Hs 269 2 * | Mt 278 2 * | Ds 281 2 * | Rg 281 2 * | Cn 285 2 * | Nh 284 2 *",
        "Fl 289 2 * | Mc 288 2 * | Lv 293 2 * | Ts 292 2 * | Og 294 2 *",
    ];

    // Exact masses of the isotopes that turn up in drug-like SMILES; others fall back to the mass number.
    private static readonly Dictionary<(int Z, int A), double> IsotopeMasses = new()
    {
        [(1, 2)] = 2.014101778, [(1, 3)] = 3.016049278, [(3, 6)] = 6.015122795, [(5, 10)] = 10.012937,
        [(6, 11)] = 11.0114336, [(6, 13)] = 13.00335484, [(6, 14)] = 14.00324199, [(7, 13)] = 13.00573861,
        [(7, 15)] = 15.0001089, [(8, 15)] = 15.0030656, [(8, 17)] = 16.9991317, [(8, 18)] = 17.999161,
        [(9, 18)] = 18.000938, [(11, 22)] = 21.9944364, [(11, 24)] = 23.99096278, [(15, 32)] = 31.97390727,
        [(15, 33)] = 32.9717255, [(16, 34)] = 33.9678669, [(16, 35)] = 34.96903216, [(17, 36)] = 35.96830698,
        [(17, 37)] = 36.96590259, [(19, 42)] = 41.96240281, [(20, 45)] = 44.9561866, [(24, 51)] = 50.9447674,
        [(26, 55)] = 54.9382934, [(26, 59)] = 58.9348755, [(27, 57)] = 56.9362914, [(27, 60)] = 59.9338171,
        [(29, 64)] = 63.9297642, [(31, 67)] = 66.9282017, [(34, 75)] = 74.9225234, [(35, 76)] = 75.924541,
        [(35, 77)] = 76.921379, [(35, 81)] = 80.9162906, [(35, 82)] = 81.9168041, [(38, 89)] = 88.9074507,
        [(39, 90)] = 89.9071519, [(43, 99)] = 98.9062547, [(49, 111)] = 110.905103, [(53, 123)] = 122.905589,
        [(53, 124)] = 123.9062099, [(53, 125)] = 124.9046302, [(53, 131)] = 130.9061246, [(54, 133)] = 132.9059107,
        [(55, 137)] = 136.9070895, [(71, 177)] = 176.9437581, [(81, 201)] = 200.970819, [(92, 235)] = 235.0439299,
        [(92, 238)] = 238.0507882,
    };

    // Elements left of carbon in their row (plus a few heavier ones): RDKit flips the sign of
    // their charge when deciding whether an aromatic atom needs a double bond.
    private static readonly HashSet<int> EarlyElements =
    [
        3, 4, 5, 11, 12, 13, 19, 20, 21, 22, 30, 31, 32, 37, 38, 39, 40, 41, 48, 49, 50, 51, 55, 56, 57, 58, 59, 60, 61,
        72, 73, 80, 81, 82, 83, 87, 88, 89, 90, 91, 92, 93, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115,
        116, 117, 118,
    ];

    private static readonly string[] Symbols = new string[MaxAtomicNumber + 1];
    private static readonly double[] Weights = new double[MaxAtomicNumber + 1];
    private static readonly int[] OuterShell = new int[MaxAtomicNumber + 1];
    private static readonly int[][] ValenceLists = new int[MaxAtomicNumber + 1][];
    private static readonly Dictionary<string, int> BySymbol = new(StringComparer.Ordinal);

    static PeriodicTable()
    {
        var z = 0;
        foreach (var row in Rows)
        {
            foreach (var entry in row.Split('|', StringSplitOptions.TrimEntries))
            {
                var fields = entry.Split(' ');
                Symbols[z] = fields[0];
                Weights[z] = double.Parse(fields[1], CultureInfo.InvariantCulture);
                OuterShell[z] = int.Parse(fields[2], CultureInfo.InvariantCulture);
                ValenceLists[z] = fields[3].Split(',')
                    .Select(v => v == "*" ? AnyValence : int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
                BySymbol[fields[0]] = z;
                z++;
            }
        }
    }

    public static string Symbol(int atomicNumber) => Symbols[atomicNumber];

    public static bool TryGetAtomicNumber(string symbol, out int atomicNumber) =>
        BySymbol.TryGetValue(symbol, out atomicNumber) && atomicNumber > 0;

    public static double AtomicWeight(int atomicNumber) => Weights[atomicNumber];

    public static int OuterElectrons(int atomicNumber) => OuterShell[atomicNumber];

    /// <summary>Allowed valences, lowest first; a trailing <see cref="AnyValence"/> accepts anything above.</summary>
    public static IReadOnlyList<int> Valences(int atomicNumber) => ValenceLists[atomicNumber];

    /// <summary>The first allowed valence, or <see cref="AnyValence"/> for elements with no preferred one (metals).</summary>
    public static int DefaultValence(int atomicNumber) => ValenceLists[atomicNumber][0];

    public static bool IsEarly(int atomicNumber) => EarlyElements.Contains(atomicNumber);

    public static double IsotopeMass(int atomicNumber, int massNumber) =>
        IsotopeMasses.TryGetValue((atomicNumber, massNumber), out var mass) ? mass : massNumber;

    /// <summary>RDKit's rough electronegativity order: more outer electrons first, then the lighter element.</summary>
    public static bool MoreElectronegative(int first, int second)
    {
        var outerFirst = OuterShell[first];
        var outerSecond = OuterShell[second];
        return outerFirst > outerSecond || (outerFirst == outerSecond && first < second);
    }
}
