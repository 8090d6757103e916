#!/usr/bin/env python3
"""Compares the project's graph features (bench.sh graph-features --dump) with chemprop v2's defaults computed by RDKit.

Usage (RDKit needed, not a project dependency):
    python3 Bench/graph_features_rdkit.py SMILES.csv DUMP.jsonl [--examples N]

SMILES.csv: first column SMILES, one header line (the file the dump was made from). Molecules are parsed as
chemprop's make_mol does (MolFromSmiles, hydrogens removed). Atoms are matched by index, bonds by their atom pair.
Prints, per feature block, the fraction of atoms (bonds) whose block agrees, and a few disagreements per block.
"""
import argparse
import collections
import csv
import json
import sys

from rdkit import Chem, RDLogger
from rdkit.Chem.rdchem import BondType, HybridizationType

RDLogger.DisableLog("rdApp.*")

# chemprop v2 MultiHotAtomFeaturizer.v2 blocks: (name, choices); the unknown slot follows the choices.
ATOMIC_NUMBERS = list(range(1, 37)) + [53]
DEGREES = list(range(6))
CHARGES = [-1, -2, 1, 2, 0]
CHIRAL_TAGS = list(range(4))
HYDROGENS = list(range(5))
HYBRIDIZATIONS = [HybridizationType.S, HybridizationType.SP, HybridizationType.SP2, HybridizationType.SP2D,
                  HybridizationType.SP3, HybridizationType.SP3D, HybridizationType.SP3D2]
ATOM_BLOCKS = ["atomic number", "degree", "charge", "chiral tag", "hydrogens", "hybridization", "aromatic"]
BOND_TYPES = [BondType.SINGLE, BondType.DOUBLE, BondType.TRIPLE, BondType.AROMATIC]
BOND_BLOCKS = ["bond type", "conjugated", "in ring", "stereo"]


def one_hot_column(value, choices, offset):
    return offset + (choices.index(value) if value in choices else len(choices))


def atom_columns(atom):
    """The set column of each block, as the project's MoleculeGraph lays them out (-1: not set)."""
    offsets = [0, 38, 45, 51, 56, 62]
    values = [atom.GetAtomicNum(), atom.GetTotalDegree(), atom.GetFormalCharge(), int(atom.GetChiralTag()),
              atom.GetTotalNumHs(), atom.GetHybridization()]
    choices = [ATOMIC_NUMBERS, DEGREES, CHARGES, CHIRAL_TAGS, HYDROGENS, HYBRIDIZATIONS]
    columns = [one_hot_column(v, c, o) for v, c, o in zip(values, choices, offsets)]
    columns.append(70 if atom.GetIsAromatic() else -1)
    return columns, 0.01 * atom.GetMass()


def bond_columns(bond):
    bond_type = bond.GetBondType()
    type_column = 1 + BOND_TYPES.index(bond_type) if bond_type in BOND_TYPES else -1
    stereo = int(bond.GetStereo())
    return [type_column, 5 if bond.GetIsConjugated() else -1, 6 if bond.IsInRing() else -1,
            7 + (stereo if stereo < 6 else 6)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("smiles")
    parser.add_argument("dump")
    parser.add_argument("--examples", type=int, default=5)
    args = parser.parse_args()

    with open(args.smiles, newline="") as f:
        rows = [r[0] for r in csv.reader(f)][1:]
    with open(args.dump) as f:
        dumped = [json.loads(line) for line in f]
    if len(rows) != len(dumped):
        sys.exit(f"{len(rows)} SMILES but {len(dumped)} dumped molecules")

    atom_agree = collections.Counter()
    bond_agree = collections.Counter()
    examples = collections.defaultdict(list)
    atoms = bonds = molecules = mass_agree = 0
    skipped = collections.Counter()
    for smiles, ours in zip(rows, dumped):
        mol = Chem.MolFromSmiles(smiles)
        if mol is None or "error" in ours:
            skipped["invalid in RDKit" if mol is None else "invalid here"] += mol is None or "error" in ours
            continue
        if mol.GetNumAtoms() != len(ours["atoms"]) or mol.GetNumBonds() != len(ours["bonds"]):
            skipped["different atom or bond count"] += 1
            continue
        molecules += 1
        for atom, mine in zip(mol.GetAtoms(), ours["atoms"]):
            atoms += 1
            theirs, mass = atom_columns(atom)
            for block, name in enumerate(ATOM_BLOCKS):
                if theirs[block] == mine[block]:
                    atom_agree[name] += 1
                elif len(examples[name]) < args.examples:
                    examples[name].append(f"{smiles} atom {atom.GetIdx()}: RDKit column {theirs[block]}, "
                                          f"here {mine[block]}")
            if abs(mass - mine[7]) <= 1e-5 * max(1.0, mass):
                mass_agree += 1
            elif len(examples["mass"]) < args.examples:
                examples["mass"].append(f"{smiles} atom {atom.GetIdx()}: RDKit {mass}, here {mine[7]}")
        by_pair = {(min(b[0], b[1]), max(b[0], b[1])): b[2:] for b in ours["bonds"]}
        for bond in mol.GetBonds():
            bonds += 1
            pair = (min(bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()), max(bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
            mine = by_pair.get(pair)
            theirs = bond_columns(bond)
            for block, name in enumerate(BOND_BLOCKS):
                if mine is not None and theirs[block] == mine[block]:
                    bond_agree[name] += 1
                elif len(examples[name]) < args.examples:
                    examples[name].append(f"{smiles} bond {pair}: RDKit column {theirs[block]}, "
                                          f"here {None if mine is None else mine[block]}")

    print(f"molecules compared: {molecules} of {len(rows)}; skipped: {dict(skipped)}")
    print(f"atoms: {atoms}")
    for name in ATOM_BLOCKS:
        print(f"  {name:15s} {atom_agree[name] / atoms:.5f}  ({atoms - atom_agree[name]} differ)")
    print(f"  {'mass':15s} {mass_agree / atoms:.5f}  ({atoms - mass_agree} differ)")
    print(f"bonds: {bonds}")
    for name in BOND_BLOCKS:
        print(f"  {name:15s} {bond_agree[name] / bonds:.5f}  ({bonds - bond_agree[name]} differ)")
    for name, lines in examples.items():
        print(f"-- {name}")
        for line in lines:
            print("   " + line)


if __name__ == "__main__":
    main()
