fn main() {
    aerie_build::git_revision();
}
