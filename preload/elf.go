package preload

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A minimal, allocation-light ELF64 little-endian reader over a mapped file. It reads only
// what the symbol table needs and checks every offset against the data it was given: the
// file may be truncated, malformed, or hostile.

const (
	elfHeaderSize   = 64
	sectionHdrSize  = 64
	symbolEntrySize = 24

	shtSymtab = 2
	shtNote   = 7
	shtNobits = 8
	shtDynsym = 11

	sttFunc  = 2
	sttIfunc = 10
	stbLocal = 0
	stbWeak  = 2

	ntGNUBuildID = 3
)

var errNotELF = errors.New("not an ELF file")

type elfSection struct {
	name    string
	typ     uint32
	flags   uint64
	addr    uint64
	offset  uint64
	size    uint64
	link    uint32
	entsize uint64
}

type elfFile struct {
	data     []byte
	sections []elfSection
}

func parseELF(data []byte) (*elfFile, error) {
	if len(data) < elfHeaderSize || string(data[:4]) != "\x7fELF" {
		return nil, errNotELF
	}
	if data[4] != 2 || data[5] != 1 {
		return nil, errors.New("not a 64-bit little-endian ELF file")
	}
	le := binary.LittleEndian
	shoff := le.Uint64(data[0x28:])
	shentsize := uint64(le.Uint16(data[0x3a:]))
	shnum := uint64(le.Uint16(data[0x3c:]))
	if shoff == 0 || shnum == 0 {
		return &elfFile{data: data}, nil // no section headers (stripped to the bone)
	}
	if shentsize != sectionHdrSize {
		return nil, fmt.Errorf("section header size %d", shentsize)
	}
	if shoff > uint64(len(data)) || shnum > (uint64(len(data))-shoff)/sectionHdrSize {
		return nil, errors.New("section headers past the end of the file (truncated?)")
	}
	f := &elfFile{data: data, sections: make([]elfSection, shnum)}
	nameOffsets := make([]uint32, shnum)
	for i := range f.sections {
		h := data[shoff+uint64(i)*sectionHdrSize:]
		nameOffsets[i] = le.Uint32(h)
		f.sections[i] = elfSection{
			typ:     le.Uint32(h[4:]),
			flags:   le.Uint64(h[8:]),
			addr:    le.Uint64(h[16:]),
			offset:  le.Uint64(h[24:]),
			size:    le.Uint64(h[32:]),
			link:    le.Uint32(h[40:]),
			entsize: le.Uint64(h[56:]),
		}
	}
	// Section names, when the name table is sound; unnamed sections are still usable by type.
	if shstrndx := uint64(le.Uint16(data[0x3e:])); shstrndx < shnum {
		if names, err := f.sectionData(f.sections[shstrndx]); err == nil {
			for i := range f.sections {
				if off := uint64(nameOffsets[i]); off < uint64(len(names)) {
					end := off
					for end < uint64(len(names)) && names[end] != 0 {
						end++
					}
					f.sections[i].name = string(names[off:end])
				}
			}
		}
	}
	return f, nil
}

// section returns the first section with this name.
func (f *elfFile) section(name string) (elfSection, bool) {
	for _, s := range f.sections {
		if s.name == name {
			return s, true
		}
	}
	return elfSection{}, false
}

// sectionData returns a section's bytes, or an error if they lie outside the file.
func (f *elfFile) sectionData(s elfSection) ([]byte, error) {
	if s.typ == shtNobits {
		return nil, nil
	}
	if s.offset > uint64(len(f.data)) || s.size > uint64(len(f.data))-s.offset {
		return nil, errors.New("section past the end of the file (truncated?)")
	}
	return f.data[s.offset : s.offset+s.size], nil
}

// buildID returns the GNU build-id note's bytes, or nil.
func (f *elfFile) buildID() []byte {
	le := binary.LittleEndian
	for _, s := range f.sections {
		if s.typ != shtNote {
			continue
		}
		d, err := f.sectionData(s)
		if err != nil {
			continue
		}
		for len(d) >= 12 {
			namesz, descsz, typ := uint64(le.Uint32(d)), uint64(le.Uint32(d[4:])), le.Uint32(d[8:])
			nameEnd := 12 + (namesz+3)&^3
			descEnd := nameEnd + (descsz+3)&^3
			if namesz > uint64(len(d)) || descsz > uint64(len(d)) || descEnd > uint64(len(d)) {
				break
			}
			if typ == ntGNUBuildID && namesz == 4 && string(d[12:15]) == "GNU" {
				return d[nameEnd : nameEnd+descsz]
			}
			d = d[descEnd:]
		}
	}
	return nil
}

// rawSymbol is a defined function symbol; name aliases the file's string table.
type rawSymbol struct {
	value uint64
	size  uint64
	name  []byte
	bind  uint8
}

// functionSymbols visits the defined function symbols of .symtab and .dynsym.
func (f *elfFile) functionSymbols(visit func(rawSymbol)) (tables int, err error) {
	le := binary.LittleEndian
	for _, s := range f.sections {
		if s.typ != shtSymtab && s.typ != shtDynsym {
			continue
		}
		if s.entsize != symbolEntrySize {
			return tables, fmt.Errorf("symbol entry size %d", s.entsize)
		}
		if uint64(s.link) >= uint64(len(f.sections)) {
			return tables, errors.New("symbol table links to a missing string table")
		}
		syms, err := f.sectionData(s)
		if err != nil {
			return tables, err
		}
		strs, err := f.sectionData(f.sections[s.link])
		if err != nil {
			return tables, err
		}
		tables++
		for off := 0; off+symbolEntrySize <= len(syms); off += symbolEntrySize {
			e := syms[off : off+symbolEntrySize]
			info, shndx := e[4], le.Uint16(e[6:])
			typ := info & 0xf
			if (typ != sttFunc && typ != sttIfunc) || shndx == 0 {
				continue
			}
			value := le.Uint64(e[8:])
			if value == 0 {
				continue
			}
			nameOff := uint64(le.Uint32(e[0:]))
			if nameOff >= uint64(len(strs)) {
				continue
			}
			name := strs[nameOff:]
			end := 0
			for end < len(name) && name[end] != 0 {
				end++
			}
			if end == 0 {
				continue
			}
			visit(rawSymbol{value: value, size: le.Uint64(e[16:]), name: name[:end], bind: info >> 4})
		}
	}
	return tables, nil
}
