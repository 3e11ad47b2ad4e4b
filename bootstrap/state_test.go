package bootstrap

import (
	"reflect"
	"testing"
)

func TestPlanTable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []chunkRec
		gen    int
		want   tablePlan
	}{
		{
			name: "fresh table",
			gen:  1,
			want: tablePlan{Tail: true, TailSeq: 1, TailLo: ""},
		},
		{
			name: "killed after chunks 1,2,4 committed; 3 lost and the rest unread",
			gen:  2,
			chunks: []chunkRec{
				{Seq: 1, Lo: "", Hi: "k1", Generation: 1, Rows: 10},
				{Seq: 2, Lo: "k1", Hi: "k2", Generation: 1, Rows: 10},
				{Seq: 4, Lo: "k3", Hi: "k4", Generation: 1, Rows: 10},
			},
			want: tablePlan{
				Steps: []step{
					{Kind: stepRefresh, Seq: 1, Lo: "", Hi: "k1"},
					{Kind: stepRefresh, Seq: 2, Lo: "k1", Hi: "k2"},
					{Kind: stepCopy, Seq: 3, Lo: "k2", Hi: "k3"},
					{Kind: stepRefresh, Seq: 4, Lo: "k3", Hi: "k4"},
				},
				Tail: true, TailSeq: 5, TailLo: "k4",
			},
		},
		{
			name: "first chunk lost, last chunk (open above) done",
			gen:  3,
			chunks: []chunkRec{
				{Seq: 2, Lo: "k1", Hi: "k2", Generation: 3, Rows: 7},
				{Seq: 3, Lo: "k2", Hi: "", Generation: 2, Rows: 5},
			},
			want: tablePlan{
				Steps: []step{
					{Kind: stepCopy, Seq: 1, Lo: "", Hi: "k1"},
					{Kind: stepRefresh, Seq: 3, Lo: "k2", Hi: ""},
				},
				Current: 1, CurrentRows: 7,
			},
		},
		{
			name: "complete and current",
			gen:  2,
			chunks: []chunkRec{
				{Seq: 1, Lo: "", Hi: "k1", Generation: 2, Rows: 3},
				{Seq: 2, Lo: "k1", Hi: "", Generation: 2, Rows: 4},
			},
			want: tablePlan{Current: 2, CurrentRows: 7},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planTable(tc.chunks, tc.gen)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("plan:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPlanTableRejectsInconsistentChunks(t *testing.T) {
	for name, chunks := range map[string][]chunkRec{
		"gap without free seq": {{Seq: 1, Lo: "", Hi: "a"}, {Seq: 2, Lo: "b", Hi: ""}},
		"chunk after the end":  {{Seq: 1, Lo: "", Hi: ""}, {Seq: 2, Lo: "x", Hi: ""}},
	} {
		if _, err := planTable(chunks, 2); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestNormalizeCreate(t *testing.T) {
	a := "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4"
	b := "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	if normalizeCreate(a) != normalizeCreate(b) {
		t.Errorf("AUTO_INCREMENT counter makes definitions differ")
	}
	if normalizeCreate(a) == normalizeCreate(b+" COMMENT='x'") {
		t.Errorf("different definitions compare equal")
	}
}
